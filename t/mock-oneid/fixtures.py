"""Test users of the mock OneID.  Every person here is made up.

The identities follow docs/oneid-protocol.md: every scalar is
a JSON string, PINs (PINFL) have 14 digits, the first one 3 for a man and 4
for a woman born in the 1900s, digits 2-7 the DDMMYY of birth_date; names
are upper-case Uzbek Latin with U+2018 in O‘ and G‘, addresses Cyrillic.
`sess_id` is filled in by the mock (it equals the access token).

People (the whole login works):

  doctor          the demo's default user: a woman, MOBILEMETHOD,
                  mid_name "G‘AYRAT QIZI", a Cyrillic address
  citizen-basic   LOGINPASSMETHOD, valid "false", valid_methods [],
                  legal_info [], no email, O‘/G‘ names (even in user_id),
                  Cyrillic per_adr with a double and a trailing space
  citizen-eds     PKCSMETHOD, valid "true", valid_methods ["PKCSMETHOD"],
                  phone with "+", old Cyrillic natn/ctzn, a tin
  legal-rep       LEPKCSMETHOD, user_type "L", pkcs_legal_tin, two
                  legal_info entries (the second is_basic: true), acron_UZ
                  with double quotes, full_name in FIRST MID SUR order
  sparse          only pin, user_id, ret_cd, sess_id and the names; email
                  is "" and mid_name is null; everything else absent
  legacy-formats  2018-era data: birth_date YYYYMMDD, gd "M", passport
                  dates YYYY-DD-MM plus _pport_* copies, phone without "+",
                  the old empty le_tin/le_name/role_list/ws_list, no
                  auth_method and no legal_info; the whole answer is sent
                  with \\uXXXX escapes (O\\u2018RINOV) and sess_id is 128 hex
                  characters instead of the access token

Front-channel scenarios (the authorize step itself misbehaves):

  abandon         200 "waiting..." page, never redirects back
  no-code         302 back to redirect_uri with state only, no code
  error           302 back with error=access_denied (and state)

Back-channel scenarios (the authorize step works; the identity is that of
citizen-basic unless the scenario changes it):

  token-500              token: HTTP 500 HTML page
  token-html             token: HTTP 200 with an HTML maintenance page
  token-slow             token: answers after --slow-seconds (3 s)
  token-not-found        token: 400 {"error":"token_not_found",...}
  token-no-access-token  token: 200 JSON without access_token
  token-429              token: 429 with Retry-After: 60
  identify-500           identify: HTTP 500 HTML page
  identify-html          identify: HTTP 200 with an HTML page
  identify-truncated     identify: 200, valid JSON cut in the middle
  identify-huge          identify: 200, valid JSON of about 64 KB (per_adr)
  identify-slow          identify: answers after --slow-seconds
  identify-429           identify: 429 with Retry-After: 60
  identify-ret-cd        identify: a full identity, but ret_cd "1"
  identify-bad-pin       identify: pin "12345"
  identify-no-pin        identify: no pin key at all
  identify-pin-number    identify: pin as a JSON number
  identify-legal-object  identify: legal_info an object instead of an array
  identify-null-fields   identify: every field but pin, ret_cd and sess_id
                         is null
  identify-crlf          identify: CR, LF and NUL inside full_name and
                         first_name ("...\\r\\nX-Injected: 1\\r\\n...")
  identify-nested        identify: valid JSON with arrays nested 5000 deep
                         (--nested-depth; deeper than jansson's 2048 limit,
                         and still under 16 KB so that the parser, not the
                         buffer size, is what rejects it)
  logout-500             logout: one_log_out for this token answers 500 and
                         the token stays valid at OneID

More back-channel faults (hostile-input tests):

  token-503                  token: 503 with an empty body, Retry-After: 120
  token-truncated            token: 200, valid JSON cut in the middle
  token-number               token: access_token is a JSON number
  token-array                token: the answer is a JSON array, not an object
  identify-502               identify: 502 with a gateway's HTML page
  identify-empty             identify: 200 JSON content type, empty body
  identify-array             identify: the identity wrapped in a JSON array
  identify-duplicate-pin     identify: "pin" twice, another person's first
  identify-name-object       identify: full_name an object {"uz":..,"ru":..}
  identify-legal-tin-number  identify: tin of the is_basic legal_info entry
                             is a JSON number
  identify-nested-deep       identify: valid JSON with objects nested 10000
                             deep in role_list (about 60 KB: over a 16k
                             buffer, under 128k)
  identify-giant             identify: 200, about 1 MB of valid JSON
  identify-legal-3k          identify: a legal representative of many
  identify-legal-20k         organisations: legal_info holds as many
  identify-legal-60k         entity objects as make the answer about 3 KB,
                             20 KB or 60 KB; the is_basic one comes last
  identify-legal-1m          the same, exactly 1 MiB (1048576 bytes, the
                             gateway's cap)
  identify-legal-1m-plus     the same, 1048577 bytes: one byte over the cap
  identify-inject            identify: CR, LF, NUL, TAB, ESC, DEL, U+2028
                             and U+0085 in every field the gateway passes
                             on, a field of control characters only, and a
                             full_name whose 1024-byte cap falls inside a
                             UTF-8 character (see apply_identify_scenario)
"""

import copy
import json

# --- people ---------------------------------------------------------------

DOCTOR = {
    "valid": "true",
    "valid_methods": ["MOBILEMETHOD"],
    "pin": "41203870000017",
    "user_id": "dilnoza.karimova",
    "full_name": "KARIMOVA DILNOZA G\u2018AYRAT QIZI",
    "pport_no": "AC1234567",
    "birth_date": "1987-03-12",
    "sur_name": "KARIMOVA",
    "first_name": "DILNOZA",
    "mid_name": "G\u2018AYRAT QIZI",
    "user_type": "I",
    "ret_cd": "0",
    "auth_method": "MOBILEMETHOD",
    "legal_info": [],
    "gd": "2",
    "natn": "O\u2018ZBEK",
    "ctzn": "O\u2018ZBEKISTON",
    "birth_place": "TOSHKENT SHAHRI",
    "per_adr": "ТОШКЕНТ ШАҲРИ, ЮНУСОБОД ТУМАНИ, 4-МАВЗЕ, 12-УЙ",
    "pport_issue_place": "TOSHKENT SHAHRI YUNUSOBOD TUMANI IIB",
    "pport_issue_date": "2019-04-02",
    "pport_expr_date": "2029-04-01",
    "mob_phone_no": "+998901234567",
    "email": "dilnoza@example.uz",
    "birth_place_id": "1726",
    "nationality_id": "44",
    "citizenship_id": "182",
}

CITIZEN_BASIC = {
    "valid": "false",
    "valid_methods": [],
    "pin": "31505900000011",
    "user_id": "olim.toshpo\u2018latov",
    "full_name": "TOSHPO\u2018LATOV OLIM G\u2018OFUR O\u2018G\u2018LI",
    "pport_no": "AA7654321",
    "birth_date": "1990-05-15",
    "sur_name": "TOSHPO\u2018LATOV",
    "first_name": "OLIM",
    "mid_name": "G\u2018OFUR O\u2018G\u2018LI",
    "user_type": "I",
    "ret_cd": "0",
    "auth_method": "LOGINPASSMETHOD",
    "legal_info": [],
    "gd": "1",
    "natn": "O\u2018ZBEK",
    "ctzn": "O\u2018ZBEKISTON",
    "birth_place": "SAMARQAND VILOYATI, URGUT TUMANI",
    "per_adr": "САМАРҚАНД ВИЛОЯТИ,  УРГУТ ТУМАНИ, ЯНГИОБОД МФЙ, уй:7 ",
    "pport_issue_place": "URGUT TUMANI IIB",
    "pport_issue_date": "2015-06-20",
    "pport_expr_date": "2025-06-19",
    "mob_phone_no": "+998935551122",
    "birth_place_id": "1718",
    "nationality_id": "44",
    "citizenship_id": "",
}

CITIZEN_EDS = {
    "valid": "true",
    "valid_methods": ["PKCSMETHOD"],
    "pin": "30201850000022",
    "user_id": "jasur.aliyev",
    "full_name": "ALIYEV JASUR BAXTIYOROVICH",
    "pport_no": "AB1112223",
    "birth_date": "1985-01-02",
    "sur_name": "ALIYEV",
    "first_name": "JASUR",
    "mid_name": "BAXTIYOROVICH",
    "user_type": "I",
    "ret_cd": "0",
    "auth_method": "PKCSMETHOD",
    "legal_info": [],
    "gd": "1",
    "natn": "УЗБЕК",
    "ctzn": "УЗБЕКИСТАН",
    "birth_place": "ҚАШҚАДАРЁ ВИЛОЯТИ",
    # Ћ (U+040B) inside an Uzbek word, as once captured
    "per_adr": "ҚАРШИ ШАҲРИ, ЎЗБЕКИСТОН КЎЧАСИ, 5-УЙ, 17-ХОНАДОН, "
               "ҒАЛАБА МФЙ, ТЕМИРЙЎЛЋИЛАР",
    "pport_issue_place": "ҚАРШИ ШАҲАР ИИБ",
    "pport_issue_date": "2016-09-14",
    "pport_expr_date": "2026-09-13",
    "mob_phone_no": "+998971112233",
    "email": "jasur@example.uz",
    "tin": "412345678",
}

LEGAL_REP = {
    "valid": "true",
    "valid_methods": ["PKCSMETHOD", "MOBILEMETHOD"],
    "pin": "32807880000033",
    "user_id": "bobur.rahimov",
    "full_name": "BOBUR SHUHRAT O\u2018G\u2018LI RAHIMOV",
    "pport_no": "AD3334445",
    "birth_date": "1988-07-28",
    "sur_name": "RAHIMOV",
    "first_name": "BOBUR",
    "mid_name": "SHUHRAT O\u2018G\u2018LI",
    "user_type": "L",
    "ret_cd": "0",
    "auth_method": "LEPKCSMETHOD",
    "pkcs_legal_tin": "301234567",
    "legal_info": [
        {"is_basic": False, "tin": "309876543",
         "acron_UZ": "\"SHIFO-SAVDO\" MChJ", "le_tin": "309876543",
         "le_name": "\"SHIFO-SAVDO\" MAS\u2018ULIYATI CHEKLANGAN JAMIYAT"},
        {"is_basic": True, "tin": "301234567",
         "acron_UZ": "\"NAMUNA KLINIKA\" MChJ", "le_tin": "301234567",
         "le_name": "\"NAMUNA KLINIKA\" MAS\u2018ULIYATI CHEKLANGAN "
                    "JAMIYAT"},
    ],
    "gd": "1",
    "natn": "O\u2018ZBEK",
    "ctzn": "O\u2018ZBEKISTON",
    "per_adr": "ТОШКЕНТ ВИЛОЯТИ, ЧИРЧИҚ ШАҲРИ, А.ТЕМУР КЎЧАСИ, 3-УЙ",
    "mob_phone_no": "+998991234455",
    "tin": "487654321",
}

SPARSE = {
    "pin": "41111920000044",
    "user_id": "malika.n",
    "full_name": "NAZAROVA MALIKA",
    "sur_name": "NAZAROVA",
    "first_name": "MALIKA",
    "mid_name": None,
    "ret_cd": "0",
    "email": "",
}

# sent with ensure_ascii: every non-ASCII character as a \uXXXX escape
LEGACY_FORMATS = {
    "valid": "true",
    "pin": "31212800000055",
    "user_id": "sherzod.o\u2018rinov",
    "full_name": "O\u2018RINOV SHERZOD G\u2018ANI O\u2018G\u2018LI",
    "pport_no": "AA0001112",
    "birth_date": "19801212",
    "sur_name": "O\u2018RINOV",
    "first_name": "SHERZOD",
    "mid_name": "G\u2018ANI O\u2018G\u2018LI",
    "user_type": "I",
    "ret_cd": "0",
    "gd": "M",
    "natn": "УЗБЕК",
    "ctzn": "УЗБЕКИСТАН",
    "birth_cntry": "УЗБЕКИСТАН",
    "birth_place": "ФАРҒОНА ВИЛОЯТИ",
    "per_adr": "ФАРҒОНА ВИЛОЯТИ, ҚЎҚОН ШАҲРИ, НАВОИЙ КЎЧАСИ  уй:21",
    "tem_adr": "",
    "pport_issue_place": "ҚЎҚОН ШАҲАР ИИБ",
    "pport_issue_date": "2010-26-05",
    "pport_expr_date": "2020-25-05",
    "_pport_issue_date": "2010-26-05",
    "_pport_expr_date": "2020-25-05",
    "mob_phone_no": "998901112233",
    "email": "",
    "tin": "498765432",
    "le_tin": "",
    "le_name": "",
    "role_list": "",
    "ws_list": "",
}

# name -> (one-line description, identity); the picker lists them in order
USERS = {
    "doctor": ("Dr Dilnoza Karimova, the demo's default user",
               DOCTOR),
    "citizen-basic": ("login and password, O\u2018/G\u2018 names, "
                      "Cyrillic address", CITIZEN_BASIC),
    "citizen-eds": ("personal e-signature (PKCSMETHOD), valid \"true\"",
                    CITIZEN_EDS),
    "legal-rep": ("legal entity e-signature, two organisations",
                  LEGAL_REP),
    "sparse": ("almost every field missing, \"\" or null", SPARSE),
    "legacy-formats": ("2018-era formats, \\u2018 escapes, 128-hex sess_id",
                       LEGACY_FORMATS),
}

# fixtures whose whole answer is sent with \uXXXX escapes
ASCII_ONLY = {"legacy-formats"}

# fixtures whose sess_id is not the access token but 128 hex characters
HEX_SESS_ID = {"legacy-formats"}

# --- scenarios ------------------------------------------------------------

# the person behind every back-channel scenario
SCENARIO_BASE = "citizen-basic"

# name -> (step that misbehaves, kind, one-line description)
SCENARIOS = {
    "token-500": ("token", "http-500", "token request: HTTP 500 page"),
    "token-html": ("token", "html-200", "token request: 200 with HTML"),
    "token-slow": ("token", "slow", "token request: slow answer"),
    "token-not-found": ("token", "not-found",
                        "token request: 400 token_not_found"),
    "token-no-access-token": ("token", "no-access-token",
                              "token request: 200 JSON, no access_token"),
    "token-429": ("token", "http-429", "token request: 429 Retry-After"),
    "identify-500": ("identify", "http-500", "identify: HTTP 500 page"),
    "identify-html": ("identify", "html-200", "identify: 200 with HTML"),
    "identify-truncated": ("identify", "truncated",
                           "identify: JSON cut in the middle"),
    "identify-huge": ("identify", "huge", "identify: about 64 KB of JSON"),
    "identify-slow": ("identify", "slow", "identify: slow answer"),
    "identify-429": ("identify", "http-429", "identify: 429 Retry-After"),
    "identify-ret-cd": ("identify", "ret-cd",
                        "identify: full identity, ret_cd \"1\""),
    "identify-bad-pin": ("identify", "bad-pin", "identify: pin \"12345\""),
    "identify-no-pin": ("identify", "no-pin", "identify: no pin"),
    "identify-pin-number": ("identify", "pin-number",
                            "identify: pin as a JSON number"),
    "identify-legal-object": ("identify", "legal-object",
                              "identify: legal_info is an object"),
    "identify-null-fields": ("identify", "null-fields",
                             "identify: every optional field null"),
    "identify-crlf": ("identify", "crlf",
                      "identify: CR/LF/NUL inside names"),
    "identify-nested": ("identify", "nested",
                        "identify: arrays nested 5000 deep"),
    "logout-500": ("logout", "http-500",
                   "one_log_out answers 500 (identity fine)"),
    "token-503": ("token", "http-503", "token request: 503, empty body"),
    "token-truncated": ("token", "truncated",
                        "token request: JSON cut in the middle"),
    "token-number": ("token", "number",
                     "token request: access_token a JSON number"),
    "token-array": ("token", "array", "token request: a JSON array"),
    "identify-502": ("identify", "http-502", "identify: 502 gateway page"),
    "identify-empty": ("identify", "empty", "identify: 200, empty body"),
    "identify-array": ("identify", "array",
                       "identify: the identity inside a JSON array"),
    "identify-duplicate-pin": ("identify", "duplicate-pin",
                               "identify: two \"pin\" keys"),
    "identify-name-object": ("identify", "name-object",
                             "identify: full_name an object"),
    "identify-legal-tin-number": ("identify", "legal-tin-number",
                                  "identify: legal_info tin a JSON number"),
    "identify-nested-deep": ("identify", "nested-deep",
                             "identify: objects nested 10000 deep"),
    "identify-giant": ("identify", "giant", "identify: about 1 MB of JSON"),
    "identify-inject": ("identify", "inject",
                        "identify: control characters in every field"),
    "identify-legal-3k": ("identify", "legal-3k",
                          "identify: many legal entities, about 3 KB"),
    "identify-legal-20k": ("identify", "legal-20k",
                           "identify: many legal entities, about 20 KB"),
    "identify-legal-60k": ("identify", "legal-60k",
                           "identify: many legal entities, about 60 KB"),
    "identify-legal-1m": ("identify", "legal-1m",
                          "identify: many legal entities, exactly 1 MiB"),
    "identify-legal-1m-plus": ("identify", "legal-1m-plus",
                               "identify: many legal entities, 1 MiB + 1"),
}

# identify-legal-*: answer size in bytes, and whether it is exact
LEGAL_MANY = {
    "legal-3k": (3 * 1024, False),
    "legal-20k": (20 * 1024, False),
    "legal-60k": (60 * 1024, False),
    "legal-1m": (1024 * 1024, True),
    "legal-1m-plus": (1024 * 1024 + 1, True),
}

# the basic organisation of identify-legal-*: the last legal_info entry
LEGAL_MANY_BASIC = 9999

# depth of identify-nested-deep
NESTED_DEEP = 10000

# the other person whose pin comes first in identify-duplicate-pin
DUPLICATE_PIN = "41203870000017"

FRONT_SCENARIOS = {
    "abandon": "the user never finishes: a waiting page, no redirect",
    "no-code": "redirect back with state but no code",
    "error": "redirect back with error=access_denied",
}

# --- helpers --------------------------------------------------------------

# Key order of the answer: the documented core in the order of the official
# sample, then the personal data; anything else after that.
FIELD_ORDER = (
    "valid", "valid_methods", "validation_method", "pin", "user_id",
    "full_name", "pport_no", "birth_date", "sur_name", "first_name",
    "mid_name", "user_type", "sess_id", "ret_cd", "auth_method",
    "pkcs_legal_tin", "legal_info",
    "gd", "natn", "ctzn", "birth_cntry", "birth_place", "per_adr", "tem_adr",
    "pport_issue_place", "pport_issue_date", "pport_expr_date",
    "_pport_issue_date", "_pport_expr_date", "mob_phone_no", "email", "tin",
    "birth_place_id", "nationality_id", "citizenship_id",
    "doc_give_place_id", "le_tin", "le_name", "role_list", "ws_list",
)


def known(name):
    """True if name is any fixture: person or scenario."""
    return name in USERS or name in SCENARIOS or name in FRONT_SCENARIOS


def scenario(name):
    """(step, kind) of a back-channel scenario, or (None, None)."""
    if name in SCENARIOS:
        return SCENARIOS[name][:2]
    return None, None


def identity(name):
    """A fresh copy of the identity behind a fixture, without sess_id."""
    base = USERS[name][1] if name in USERS else USERS[SCENARIO_BASE][1]
    return copy.deepcopy(base)


def ordered(ident):
    """The identity with its keys in FIELD_ORDER, others after."""
    out = {k: ident[k] for k in FIELD_ORDER if k in ident}
    out.update((k, v) for k, v in ident.items() if k not in out)
    return out


def legal_entity(n, basic=False):
    """Organisation number n (1..9999) of legal_info, fixed width."""
    return {"is_basic": basic, "tin": "3%08d" % n,
            "acron_UZ": "\"NAMUNA-%04d\" MChJ" % n,
            "le_tin": "3%08d" % n,
            "le_name": "\"NAMUNA-%04d\" MAS\u2018ULIYATI CHEKLANGAN "
                       "JAMIYAT" % n}


def answer_size(ident):
    """Bytes of the identify answer as the mock sends it (UTF-8)."""
    return len(json.dumps(ordered(ident), ensure_ascii=False,
                          separators=(",", ":")).encode("utf-8"))


def legal_many(ident, size, exact):
    """A legal representative of many organisations, the basic one last:
    legal_info grows until the answer has size bytes (exact: then per_adr
    gets trailing spaces to hit size to the byte)."""
    ident["user_type"] = "L"
    ident["auth_method"] = "LEPKCSMETHOD"
    ident["pkcs_legal_tin"] = legal_entity(LEGAL_MANY_BASIC)["tin"]
    basic = legal_entity(LEGAL_MANY_BASIC, basic=True)
    ident["legal_info"] = [basic]
    one = answer_size(ident) - answer_size(dict(ident, legal_info=[]))
    # every entry has the same length (fixed-width numbers), plus a comma;
    # false is one byte longer than true
    n = max(0, (size - answer_size(ident)) // (one + 2))
    ident["legal_info"] = [legal_entity(i + 1) for i in range(n)] + [basic]
    if exact:
        ident["per_adr"] += " " * (size - answer_size(ident))
        assert answer_size(ident) == size
    else:
        while answer_size(ident) < size:
            n += 1
            ident["legal_info"].insert(-1, legal_entity(n))


def apply_identify_scenario(kind, ident, huge_bytes=64 * 1024):
    """Change an identity the way an identify scenario asks (in place)."""
    if kind in LEGAL_MANY:
        legal_many(ident, *LEGAL_MANY[kind])
    elif kind == "ret-cd":
        ident["ret_cd"] = "1"
    elif kind == "bad-pin":
        ident["pin"] = "12345"
    elif kind == "no-pin":
        del ident["pin"]
    elif kind == "pin-number":
        ident["pin"] = int(ident["pin"])
    elif kind == "legal-object":
        ident["legal_info"] = {"is_basic": True, "tin": "301234567",
                               "acron_UZ": "\"NAMUNA KLINIKA\" MChJ"}
    elif kind == "null-fields":
        for k in ident:
            if k not in ("pin", "ret_cd", "sess_id"):
                ident[k] = None
    elif kind == "crlf":
        ident["full_name"] = "EVIL\r\nX-Injected: 1\r\n\r\nNAME\x00"
        ident["first_name"] = "A\nB"
    elif kind in ("huge", "giant"):
        # a long address: about huge_bytes (giant: 1 MB) of UTF-8 in all
        if kind == "giant":
            huge_bytes = 1024 * 1024
        part = "САМАРҚАНД ВИЛОЯТИ, УРГУТ ТУМАНИ, ЯНГИОБОД МФЙ, уй:7; "
        size = len(part.encode("utf-8"))
        ident["per_adr"] = part * (huge_bytes // size + 1)
    elif kind == "name-object":
        ident["full_name"] = {"uz": ident["full_name"],
                              "ru": "ТОШПЎЛАТОВ ОЛИМ"}
    elif kind == "legal-tin-number":
        ident["legal_info"] = [{"is_basic": True, "tin": 301234567,
                                "acron_UZ": "\"NAMUNA KLINIKA\" MChJ"}]
    elif kind == "inject":
        # what the gateway must make of each value: control characters
        # (below 0x20, and 0x7f) removed, the rest kept
        ident["user_id"] = "olim\r\nFORGED LOG LINE"
        ident["full_name"] = "A" * 1023 + "\u2018" + " X-Cut: 1"
        ident["first_name"] = "\r\nX-Injected: first\u2028\u0085"
        ident["sur_name"] = "\x00\x01\x02\x1b[31m\x7fTOSHPO\u2018LATOV"
        ident["mid_name"] = "\r\n\t\x00"
        ident["user_type"] = "I\r\nSet-Cookie: oneid_session=forged"
        ident["auth_method"] = ("LOGINPASSMETHOD\tX-Tab: 1\x0bX-Vt: 1"
                                "\x0cX-Ff: 1")
        ident["legal_info"] = [{"is_basic": True,
                                "tin": "301234567\r\nX-Injected: tin",
                                "acron_UZ": "\"NAMUNA\"\r\n\r\n<html>"}]
    return ident
