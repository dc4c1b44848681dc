//! What a column's name says about it: which kind of personal data it is named for, if any.
//!
//! Pure. A name is cut into lowercase word parts (`lastLoginIP` → `last`, `login`, `ip`;
//! `e_mail` → `e`, `mail`), and the parts, and runs of two or three of them written together
//! (`e`+`mail` = `email`, `date`+`of`+`birth`), are looked up in small dictionaries, English first
//! with a few common German, French, Spanish and Japanese words (Japanese matched as a substring
//! of the whole name, which has no word breaks). When several kinds match, the first in
//! [`Category`] order wins (`email_address` is an e-mail, `ip_address` an IP, not an address).
//! A name whose other parts say it describes the data rather than holding it (`email_verified`,
//! `phone_type`, `email_id`) names nothing.
//!
//! `name` is special: `first_name`, `shipping_name` and `customer_name` are people's names,
//! `product_name` and `company_name` are not, and a bare `name` counts as a person's name unless
//! its table is obviously about something else (`countries`, `products`).

/// Kinds of personal data a column can be named for, in order of precedence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Category {
    Secret,
    Email,
    Phone,
    Ip,
    Birth,
    NationalId,
    Username,
    Address,
    PersonName,
    Geo,
    FreeText,
}

impl Category {
    /// "an e-mail column", for comments.
    pub fn described(self) -> &'static str {
        match self {
            Category::Secret => "a password, token or other secret",
            Category::Email => "an e-mail column",
            Category::Phone => "a phone number column",
            Category::Ip => "an IP or device address column",
            Category::Birth => "a date of birth column",
            Category::NationalId => "an identity, tax, bank or card number column",
            Category::Username => "a user name or login column",
            Category::Address => "a postal address column",
            Category::PersonName => "a person's name column",
            Category::Geo => "a location column",
            Category::FreeText => "a free-text column (notes and comments hold personal data)",
        }
    }
}

/// What the name says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Named for personal data; `why` is a comment line.
    Personal {
        category: Category,
        why: String,
    },
    /// Looks personal at first sight but is kept; `why` says why (a comment line).
    Kept {
        why: String,
    },
    Nothing,
}

/// Dictionary entries: word parts (or runs of them written together), compared lowercase.
const WORDS: &[(Category, &[&str])] = &[
    (
        Category::Secret,
        &[
            "password",
            "passwd",
            "pwd",
            "passcode",
            "secret",
            "token",
            "apikey",
            "otp",
            "totp",
            "salt",
            "privatekey",
            "passwort",
            "contrasena",
            "contraseña",
            "motdepasse",
        ],
    ),
    (
        Category::Email,
        &[
            "email",
            "emails",
            "mail",
            "emailaddress",
            "mailaddress",
            "correo",
            "courriel",
            "epost",
        ],
    ),
    (
        Category::Phone,
        &[
            "phone",
            "phones",
            "phonenumber",
            "telephone",
            "tel",
            "mobile",
            "mobilephone",
            "cell",
            "cellphone",
            "fax",
            "msisdn",
            "telefon",
            "telefonnummer",
            "telefono",
            "teléfono",
            "téléphone",
            "handy",
        ],
    ),
    (
        Category::Ip,
        &[
            "ip",
            "ipaddress",
            "ipaddr",
            "ipv4",
            "ipv6",
            "remoteaddr",
            "remoteip",
            "clientip",
            "mac",
            "macaddress",
            "macaddr",
        ],
    ),
    (
        Category::Birth,
        &[
            "birth",
            "birthday",
            "birthdate",
            "birthplace",
            "dob",
            "born",
            "dateofbirth",
            "geburtsdatum",
            "geburtstag",
            "nacimiento",
            "naissance",
        ],
    ),
    (
        Category::NationalId,
        &[
            "ssn",
            "nino",
            "passport",
            "passportnumber",
            "nationalid",
            "taxid",
            "taxnumber",
            "iban",
            "accountnumber",
            "cardnumber",
            "creditcard",
            "card",
            "cvv",
            "cvc",
            "driverslicense",
            "licenseplate",
            "licenceplate",
            "mynumber",
            "dni",
            "cpf",
            "aadhaar",
            "pesel",
            "bsn",
            "steuernummer",
        ],
    ),
    (
        Category::Username,
        &[
            "username",
            "login",
            "loginname",
            "handle",
            "nickname",
            "nick",
            "screenname",
        ],
    ),
    (
        Category::Address,
        &[
            "address",
            "addresses",
            "addr",
            "street",
            "streetaddress",
            "city",
            "town",
            "zip",
            "zipcode",
            "postcode",
            "postalcode",
            "housenumber",
            "strasse",
            "straße",
            "adresse",
            "anschrift",
            "ort",
            "stadt",
            "plz",
            "direccion",
            "dirección",
            "calle",
            "ciudad",
            "ville",
            "rue",
            "codepostal",
        ],
    ),
    (
        Category::PersonName,
        &[
            "firstname",
            "lastname",
            "fullname",
            "surname",
            "givenname",
            "familyname",
            "middlename",
            "maidenname",
            "forename",
            "displayname",
            "realname",
            "legalname",
            "vorname",
            "nachname",
            "nombre",
            "apellido",
            "apellidos",
            "prenom",
            "prénom",
            "nom",
        ],
    ),
    (
        Category::Geo,
        &[
            "latitude",
            "longitude",
            "lat",
            "lng",
            "lon",
            "geo",
            "geolocation",
            "coordinates",
            "coords",
        ],
    ),
    (
        Category::FreeText,
        &[
            "note",
            "notes",
            "comment",
            "comments",
            "remark",
            "remarks",
            "memo",
            "message",
            "messages",
            "bio",
            "biography",
            "about",
            "feedback",
            "instructions",
            "annotation",
            "notiz",
            "bemerkung",
            "nota",
            "notas",
            "commentaire",
        ],
    ),
];

/// Words of scripts without word breaks, matched anywhere in the name.
const SUBSTRINGS: &[(Category, &[&str])] = &[
    (Category::Secret, &["パスワード", "暗証番号"]),
    (Category::Email, &["メール", "電子メール"]),
    (Category::Phone, &["電話", "携帯", "ファックス"]),
    (Category::Birth, &["生年月日", "誕生日"]),
    (
        Category::NationalId,
        &["マイナンバー", "口座番号", "カード番号", "旅券"],
    ),
    (Category::Address, &["住所", "番地", "郵便番号", "市区町村"]),
    (
        Category::PersonName,
        &[
            "氏名",
            "名前",
            "姓名",
            "フリガナ",
            "ふりがな",
            "顧客名",
            "会員名",
            "担当者名",
        ],
    ),
    (Category::FreeText, &["備考", "メモ", "コメント"]),
];

/// Other parts of a name that make it describe data rather than hold it: `email_verified`,
/// `phone_type`, `email_id`.
const META: &[&str] = &[
    "verified",
    "confirmed",
    "optin",
    "optout",
    "opted",
    "enabled",
    "disabled",
    "allowed",
    "count",
    "counter",
    "status",
    "state",
    "type",
    "kind",
    "format",
    "flag",
    "flags",
    "sent",
    "at",
    "on",
    "template",
    "provider",
    "preference",
    "preferences",
    "subscribed",
    "bounced",
    "valid",
    "validated",
    "is",
    "has",
    "can",
    "changed",
    "updated",
    "created",
    "domain",
    "country",
    "policy",
    "visible",
    "visibility",
    "length",
    "id",
    "ids",
    "uuid",
    "fk",
    "ref",
    "version",
    "expires",
    "expiry",
    "ttl",
];

/// Parts before `name` that make it something else's name.
const NOT_PEOPLE: &[&str] = &[
    "company",
    "business",
    "org",
    "organization",
    "organisation",
    "product",
    "item",
    "brand",
    "category",
    "tag",
    "file",
    "host",
    "server",
    "db",
    "database",
    "schema",
    "table",
    "column",
    "field",
    "app",
    "application",
    "service",
    "project",
    "plan",
    "role",
    "group",
    "team",
    "department",
    "dept",
    "event",
    "job",
    "task",
    "queue",
    "topic",
    "channel",
    "bucket",
    "region",
    "zone",
    "currency",
    "language",
    "locale",
    "device",
    "browser",
    "os",
    "platform",
    "model",
    "class",
    "method",
    "function",
    "page",
    "site",
    "store",
    "shop",
    "warehouse",
    "vendor",
    "supplier",
    "merchant",
    "bank",
    "branch",
    "route",
    "key",
    "index",
    "campaign",
    "list",
    "segment",
    "feature",
    "setting",
    "config",
    "param",
    "parameter",
    "variable",
    "metric",
    "attribute",
    "property",
    "resource",
    "cluster",
    "node",
    "container",
    "image",
    "repo",
    "repository",
    "course",
    "hotel",
    "venue",
    "building",
    "room",
    "title",
    "stage",
    "step",
    "report",
    "source",
    "target",
    "unit",
    "color",
    "colour",
    "theme",
    "module",
    "package",
    "library",
    "component",
    "currency",
    "tax",
    "product",
];

/// Table-name parts that say a table holds people (for a bare `name`).
const PEOPLE_TABLES: &[&str] = &[
    "user",
    "users",
    "customer",
    "customers",
    "client",
    "clients",
    "person",
    "persons",
    "people",
    "member",
    "members",
    "employee",
    "employees",
    "staff",
    "contact",
    "contacts",
    "account",
    "accounts",
    "patient",
    "patients",
    "student",
    "students",
    "teacher",
    "teachers",
    "author",
    "authors",
    "owner",
    "owners",
    "guest",
    "guests",
    "subscriber",
    "subscribers",
    "applicant",
    "applicants",
    "candidate",
    "candidates",
    "driver",
    "drivers",
    "passenger",
    "passengers",
    "traveler",
    "travelers",
    "traveller",
    "travellers",
    "recipient",
    "recipients",
    "sender",
    "senders",
    "buyer",
    "buyers",
    "seller",
    "sellers",
    "profile",
    "profiles",
    "lead",
    "leads",
    "participant",
    "participants",
    "attendee",
    "attendees",
    "visitor",
    "visitors",
    "player",
    "players",
    "worker",
    "workers",
    "resident",
    "residents",
    "holder",
    "holders",
    "kunde",
    "kunden",
    "cliente",
    "clientes",
];

const PEOPLE_TABLE_SUBSTRINGS: &[&str] = &[
    "顧客",
    "会員",
    "社員",
    "利用者",
    "ユーザー",
    "従業員",
    "患者",
    "担当者",
];

/// Table-name parts that say a table is about something other than people.
const THING_TABLES: &[&str] = &[
    "country",
    "countries",
    "currency",
    "currencies",
    "language",
    "languages",
    "locale",
    "locales",
    "region",
    "regions",
    "state",
    "states",
    "city",
    "cities",
    "category",
    "categories",
    "tag",
    "tags",
    "product",
    "products",
    "item",
    "items",
    "sku",
    "skus",
    "plan",
    "plans",
    "role",
    "roles",
    "permission",
    "permissions",
    "group",
    "groups",
    "team",
    "teams",
    "setting",
    "settings",
    "feature",
    "features",
    "flag",
    "flags",
    "status",
    "statuses",
    "type",
    "types",
    "kind",
    "kinds",
    "brand",
    "brands",
    "company",
    "companies",
    "organization",
    "organizations",
    "organisation",
    "organisations",
    "department",
    "departments",
    "project",
    "projects",
    "service",
    "services",
    "event",
    "events",
    "job",
    "jobs",
    "queue",
    "queues",
    "channel",
    "channels",
    "template",
    "templates",
    "page",
    "pages",
    "course",
    "courses",
    "warehouse",
    "warehouses",
    "store",
    "stores",
    "shop",
    "shops",
    "vendor",
    "vendors",
    "supplier",
    "suppliers",
    "bank",
    "banks",
    "airport",
    "airports",
    "unit",
    "units",
    "metric",
    "metrics",
    "campaign",
    "campaigns",
    "migration",
    "migrations",
    "schema",
];

/// A name cut into lowercase word parts: at every character that is not a letter or digit,
/// and where a lowercase letter or digit is followed by an uppercase one (`lastLoginIP`).
pub fn parts(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut after_lower = false;
    for ch in name.chars() {
        if !ch.is_alphanumeric() {
            flush(&mut out, &mut current);
            after_lower = false;
            continue;
        }
        if ch.is_uppercase() && after_lower {
            flush(&mut out, &mut current);
        }
        current.extend(ch.to_lowercase());
        after_lower = ch.is_lowercase() || ch.is_ascii_digit();
    }
    flush(&mut out, &mut current);
    out
}

fn flush(out: &mut Vec<String>, current: &mut String) {
    if !current.is_empty() {
        out.push(std::mem::take(current));
    }
}

/// A part without trailing digits (`address1` → `address`), unless that leaves nothing or
/// changes a dictionary word (`ipv4`).
fn stem(part: &str) -> &str {
    let stripped = part.trim_end_matches(|c: char| c.is_ascii_digit());
    if stripped.is_empty() { part } else { stripped }
}

/// Every category the name's parts (or runs of up to three parts) match, with the indexes of
/// the parts each match covers.
fn matches(parts: &[String], whole: &str) -> Vec<(Category, Vec<usize>)> {
    let mut out = Vec::new();
    for len in 1..=3.min(parts.len()) {
        for start in 0..=parts.len() - len {
            let run = &parts[start..start + len];
            let joined: String = run.iter().map(String::as_str).collect();
            let stemmed: String = run.iter().map(|p| stem(p)).collect();
            for (category, words) in WORDS {
                if words.contains(&joined.as_str()) || words.contains(&stemmed.as_str()) {
                    out.push((*category, (start..start + len).collect()));
                }
            }
        }
    }
    let lower = whole.to_lowercase();
    for (category, words) in SUBSTRINGS {
        if words.iter().any(|w| lower.contains(w)) {
            out.push((*category, (0..parts.len()).collect()));
        }
    }
    out
}

/// What the column's name says, given its table's name (for a bare `name`).
pub fn verdict(column: &str, table: &str) -> Verdict {
    let parts = parts(column);
    let found = matches(&parts, column);
    if let Some(category) = found.iter().map(|(c, _)| *c).min() {
        let covered: Vec<usize> = found
            .iter()
            .filter(|(c, _)| *c == category)
            .flat_map(|(_, idx)| idx.iter().copied())
            .collect();
        let meta = parts
            .iter()
            .enumerate()
            .filter(|(i, _)| !covered.contains(i))
            .find(|(_, p)| META.contains(&stem(p)));
        return match meta {
            Some((_, word)) => Verdict::Kept {
                why: format!(
                    "kept: its name looks like {} but `{word}` says it describes the data rather than holding it",
                    category.described()
                ),
            },
            None => Verdict::Personal {
                category,
                why: format!("name looks like {}", category.described()),
            },
        };
    }
    name_part(&parts, table)
}

/// The `name` rule (see the module doc).
fn name_part(parts: &[String], table: &str) -> Verdict {
    let Some(at) = parts.iter().position(|p| p == "name" || p == "names") else {
        return Verdict::Nothing;
    };
    let others: Vec<&str> = parts
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != at)
        .map(|(_, p)| stem(p))
        .collect();
    if let Some(word) = others.iter().find(|p| META.contains(p)) {
        return Verdict::Kept {
            why: format!("kept: `{word}` says this describes a name rather than holding one"),
        };
    }
    if let Some(word) = others.iter().find(|p| NOT_PEOPLE.contains(p)) {
        return Verdict::Kept {
            why: format!("kept: a {word}'s name, not a person's"),
        };
    }
    if !others.is_empty() {
        let personal = Verdict::Personal {
            category: Category::PersonName,
            why: format!(
                "name looks like {} (`{}` name)",
                Category::PersonName.described(),
                others.join("_")
            ),
        };
        return personal;
    }
    let table_parts = self::parts(table);
    let lower = table.to_lowercase();
    let people = table_parts
        .iter()
        .any(|p| PEOPLE_TABLES.contains(&p.as_str()))
        || PEOPLE_TABLE_SUBSTRINGS.iter().any(|w| lower.contains(w));
    if people {
        return Verdict::Personal {
            category: Category::PersonName,
            why: "a column called `name` in a table of people".to_owned(),
        };
    }
    if let Some(word) = table_parts
        .iter()
        .find(|p| THING_TABLES.contains(&p.as_str()))
    {
        return Verdict::Kept {
            why: format!(
                "kept: a column called `name` in a table of things (`{word}`), not of people; mask it if it holds people's names"
            ),
        };
    }
    Verdict::Personal {
        category: Category::PersonName,
        why: "a column called `name`, in a table not obviously about things: masked to be safe; \
              keep it if it holds no one's name"
            .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn category(column: &str, table: &str) -> Option<Category> {
        match verdict(column, table) {
            Verdict::Personal { category, .. } => Some(category),
            _ => None,
        }
    }

    #[test]
    fn names_are_cut_at_separators_and_case_changes() {
        assert_eq!(parts("lastLoginIP"), ["last", "login", "ip"]);
        assert_eq!(parts("e-mail addr"), ["e", "mail", "addr"]);
        assert_eq!(parts("IPAddress"), ["ipaddress"]);
        assert_eq!(parts("Straße_1"), ["straße", "1"]);
        assert_eq!(parts("顧客 メール"), ["顧客", "メール"]);
    }

    #[test]
    fn personal_names_are_recognised_in_their_usual_spellings() {
        let t = "users";
        for (column, expected) in [
            ("email", Category::Email),
            ("E_Mail", Category::Email),
            ("contactEmail", Category::Email),
            ("email_address", Category::Email),
            ("mobile_phone", Category::Phone),
            ("tel", Category::Phone),
            ("last_login_ip", Category::Ip),
            ("ip_address", Category::Ip),
            ("date_of_birth", Category::Birth),
            ("dob", Category::Birth),
            ("ssn", Category::NationalId),
            ("national_id", Category::NationalId),
            ("iban", Category::NationalId),
            ("user_name", Category::Username),
            ("address_line1", Category::Address),
            ("zip_code", Category::Address),
            ("street_name", Category::Address),
            ("first_name", Category::PersonName),
            ("FullName", Category::PersonName),
            ("shipping_name", Category::PersonName),
            ("surname", Category::PersonName),
            ("password_hash", Category::Secret),
            ("api_key", Category::Secret),
            ("notes", Category::FreeText),
            ("latitude", Category::Geo),
            ("メールアドレス", Category::Email),
            ("電話番号", Category::Phone),
            ("氏名", Category::PersonName),
            ("住所", Category::Address),
            ("straße", Category::Address),
            ("生年月日", Category::Birth),
            ("備考", Category::FreeText),
        ] {
            assert_eq!(category(column, t), Some(expected), "{column}");
        }
    }

    #[test]
    fn names_that_describe_data_or_name_things_are_not_personal() {
        for column in [
            "id",
            "user_id",
            "email_verified",
            "phone_type",
            "email_id",
            "status",
            "created_at",
            "product_name",
            "company_name",
            "file_name",
            "mailing_list",
            "shipping_cost",
            "description",
            "total_cents",
        ] {
            assert_eq!(category(column, "users"), None, "{column}");
        }
    }

    #[test]
    fn a_bare_name_depends_on_what_the_table_holds() {
        assert_eq!(category("name", "users"), Some(Category::PersonName));
        assert_eq!(category("name", "顧客"), Some(Category::PersonName));
        assert_eq!(category("name", "countries"), None);
        assert!(matches!(
            verdict("name", "product_categories"),
            Verdict::Kept { .. }
        ));
        // Neither: masked, to be safe.
        assert_eq!(category("name", "widgets"), Some(Category::PersonName));
    }
}
