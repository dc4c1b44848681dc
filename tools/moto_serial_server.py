"""moto's own server, answering one request at a time.

DynamoDB applies a conditional write to an item atomically: of two concurrent `PutItem`s with
`attribute_not_exists(pk)` exactly one succeeds and the other gets
`ConditionalCheckFailedException` (Amazon DynamoDB Developer Guide, "Condition expressions" and
"Conditional writes", docs.aws.amazon.com/amazondynamodb/latest/developerguide/). offpeak's claims
and state documents rely on that. `moto_server` handles requests on threads and its backends take
no lock, so two concurrent conditional writes can both succeed there, which AWS never does.

This launcher runs `moto.server.main` unchanged except that each request is handled whole while
holding one lock. Requests from concurrent callers still interleave between requests, so a race in
offpeak's own read-then-write logic stays visible to the tests; only moto's missing per-request
atomicity is supplied.

Usage: the same arguments as `moto_server` (`-H HOST -p PORT`).
"""

import threading

from moto import server
from moto.moto_server.werkzeug_app import DomainDispatcherApplication


class SerialDispatcher(DomainDispatcherApplication):
    """Handles each request, body included, while holding one process-wide lock."""

    _lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self._lock:
            return list(super().__call__(environ, start_response))


if __name__ == "__main__":
    server.DomainDispatcherApplication = SerialDispatcher
    server.main()
