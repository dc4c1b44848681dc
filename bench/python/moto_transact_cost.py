"""What giving 500 leases back costs against moto, by request shape (BENCHMARKS.md, "AWS calls and
wall time per tick").

A tick gives back the leases it took in `TransactWriteItems` of up to 100 conditional updates
(shared/src/state); before, it sent one conditional `UpdateItem` per target. This times both
shapes against a moto server, for the same 500 items:

    .venv/bin/python tools/moto_serial_server.py -H 127.0.0.1 -p 47123 &
    .venv-bench/bin/python bench/python/moto_transact_cost.py 47123

It prints one line per batch size: the wall time of the transactions and of 500 `UpdateItem`
requests, each removing a lease under the condition that it is still the holder's.
"""

import sys
import time

import boto3

ITEMS = 500
TABLE = "leases"


def client(port):
    return boto3.client(
        "dynamodb",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )


def leased(db):
    for i in range(ITEMS):
        db.put_item(TableName=TABLE, Item={"pk": {"S": f"k{i}"}, "lease": {"S": "h1"}})


def release(i):
    return {
        "TableName": TABLE,
        "Key": {"pk": {"S": f"k{i}"}},
        "UpdateExpression": "REMOVE lease",
        "ConditionExpression": "lease = :h",
        "ExpressionAttributeValues": {":h": {"S": "h1"}},
    }


def timed(work):
    started = time.perf_counter()
    work()
    return (time.perf_counter() - started) * 1000


def main(port):
    db = client(port)
    db.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for batch in (100, 25, 10, 1):
        leased(db)
        transact = timed(
            lambda: [
                db.transact_write_items(
                    TransactItems=[{"Update": release(i)} for i in range(s, s + batch)]
                )
                for s in range(0, ITEMS, batch)
            ]
        )
        leased(db)
        single = timed(lambda: [db.update_item(**release(i)) for i in range(ITEMS)])
        print(
            f"{ITEMS} leases: {ITEMS // batch} TransactWriteItems of {batch}: {transact:.0f} ms; "
            f"{ITEMS} UpdateItem: {single:.0f} ms"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]))
