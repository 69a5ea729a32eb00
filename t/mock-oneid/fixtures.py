"""Test users of the mock OneID, all synthetic.

Identities follow shared/oneid-protocol.md section 3.2: every scalar is a
string, PINs are 14 digits whose digits 2-7 are DDMMYY of birth_date, names
are upper-case Uzbek Latin with U+2018 (O‘, G‘), addresses Cyrillic.

Plain fixtures (a person who signs in):
  doctor          the demo's default: a woman, LOGINPASSMETHOD, "... QIZI"
  citizen-basic   LOGINPASSMETHOD, valid "false", no email, O‘/G‘ names
  citizen-eds     PKCSMETHOD, valid "true", phone with "+"
  legal-rep       LEPKCSMETHOD, user_type "L", pkcs_legal_tin, two legal_info
                  entries (one is_basic), acron_UZ with double quotes
  sparse          only pin, user_id, ret_cd, sess_id and names; email "",
                  mid_name null
  legacy-formats  old formats: YYYYMMDD birth date, gd "M", YYYY-DD-MM
                  passport dates plus _pport_*, names sent as \\u2018
                  escapes, 128-hex sess_id

Scenario fixtures (the front channel works, the back channel misbehaves):
  token-*, identify-*, logout-500: see SCENARIOS below.
Front-channel scenarios: abandon, no-code, error.
"""

DOCTOR = {
    "valid": "true",
    "valid_methods": ["MOBILEMETHOD"],
    "pin": "41203870000017",
    "user_id": "dilnoza.karimova",
    "full_name": "KARIMOVA DILNOZA G\u2018AYRAT QIZI",
    "sur_name": "KARIMOVA",
    "first_name": "DILNOZA",
    "mid_name": "G\u2018AYRAT QIZI",
    "pport_no": "AC1234567",
    "birth_date": "1987-03-12",
    "user_type": "I",
    "ret_cd": "0",
    "auth_method": "LOGINPASSMETHOD",
    "legal_info": [],
    "gd": "2",
    "natn": "O\u2018ZBEK",
    "ctzn": "O\u2018ZBEKISTON",
    "per_adr": "ТОШКЕНТ ШАҲРИ, ЮНУСОБОД ТУМАНИ, 4-МАВЗЕ, 12-УЙ",
    "mob_phone_no": "+998901234567",
    "email": "dilnoza@example.uz",
}

CITIZEN_BASIC = {
    "valid": "false",
    "valid_methods": [],
    "pin": "31505900000011",
    "user_id": "olim.toshpo\u2018latov",
    "full_name": "TOSHPO\u2018LATOV OLIM G\u2018OFUR O\u2018G\u2018LI",
    "sur_name": "TOSHPO\u2018LATOV",
    "first_name": "OLIM",
    "mid_name": "G\u2018OFUR O\u2018G\u2018LI",
    "pport_no": "AA7654321",
    "birth_date": "1990-05-15",
    "user_type": "I",
    "ret_cd": "0",
    "auth_method": "LOGINPASSMETHOD",
    "legal_info": [],
    "gd": "1",
    "natn": "O\u2018ZBEK",
    "ctzn": "O\u2018ZBEKISTON",
    "per_adr": "САМАРҚАНД ВИЛОЯТИ,  УРГУТ ТУМАНИ, ЯНГИОБОД МФЙ, уй:7 ",
    "pport_issue_place": "URGUT TUMANI IIB",
    "pport_issue_date": "2015-06-20",
    "pport_expr_date": "2025-06-19",
    "mob_phone_no": "+998935551122",
}

CITIZEN_EDS = {
    "valid": "true",
    "valid_methods": ["PKCSMETHOD"],
    "pin": "30201850000022",
    "user_id": "jasur.aliyev",
    "full_name": "ALIYEV JASUR BAXTIYOROVICH",
    "sur_name": "ALIYEV",
    "first_name": "JASUR",
    "mid_name": "BAXTIYOROVICH",
    "pport_no": "AB1112223",
    "birth_date": "1985-01-02",
    "user_type": "I",
    "ret_cd": "0",
    "auth_method": "PKCSMETHOD",
    "legal_info": [],
    "gd": "1",
    "mob_phone_no": "+998971112233",
    "email": "jasur@example.uz",
    "tin": "412345678",
}

LEGAL_REP = {
    "valid": "true",
    "valid_methods": ["PKCSMETHOD", "MOBILEMETHOD"],
    "pin": "32807880000033",
    "user_id": "bobur.rahimov",
    "full_name": "RAHIMOV BOBUR SHUHRAT O\u2018G\u2018LI",
    "sur_name": "RAHIMOV",
    "first_name": "BOBUR",
    "mid_name": "SHUHRAT O\u2018G\u2018LI",
    "pport_no": "AD3334445",
    "birth_date": "1988-07-28",
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
}

SPARSE = {
    "pin": "41111920000044",
    "user_id": "malika.n",
    "full_name": "NAZAROVA MALIKA",
    "sur_name": "NAZAROVA",
    "first_name": "MALIKA",
    "mid_name": None,
    "email": "",
    "ret_cd": "0",
}

LEGACY_FORMATS = {
    "valid": "true",
    "pin": "31212800000055",
    "user_id": "sherzod.o\u2018rinov",
    "full_name": "O\u2018RINOV SHERZOD G\u2018ANI O\u2018G\u2018LI",
    "sur_name": "O\u2018RINOV",
    "first_name": "SHERZOD",
    "mid_name": "G\u2018ANI O\u2018G\u2018LI",
    "pport_no": "AA0001112",
    "birth_date": "19801212",
    "gd": "M",
    "pport_issue_date": "2010-26-05",
    "pport_expr_date": "2020-25-05",
    "_pport_issue_date": "2010-26-05",
    "_pport_expr_date": "2020-25-05",
    "mob_phone_no": "998901112233",
    "user_type": "I",
    "ret_cd": "0",
    "auth_method": "LOGINPASSMETHOD",
    "legal_info": [],
}

USERS = {
    "doctor": ("Dr Dilnoza Karimova (demo default)", DOCTOR),
    "citizen-basic": ("login and password, O\u2018/G\u2018 names", CITIZEN_BASIC),
    "citizen-eds": ("personal e-signature", CITIZEN_EDS),
    "legal-rep": ("legal entity e-signature, two organisations", LEGAL_REP),
    "sparse": ("almost every field missing, \"\" or null", SPARSE),
    "legacy-formats": ("2018-era formats, \\u2018 escapes", LEGACY_FORMATS),
}

# Scenario fixtures: identity of citizen-basic, misbehaving back channel.
# step: which call misbehaves; kind: how.
SCENARIOS = {
    "token-500": ("token", "http-500"),
    "token-html": ("token", "html-200"),
    "token-slow": ("token", "slow"),
    "token-not-found": ("token", "not-found"),
    "token-no-access-token": ("token", "no-access-token"),
    "token-429": ("token", "http-429"),
    "identify-500": ("identify", "http-500"),
    "identify-html": ("identify", "html-200"),
    "identify-truncated": ("identify", "truncated"),
    "identify-huge": ("identify", "huge"),
    "identify-slow": ("identify", "slow"),
    "identify-429": ("identify", "http-429"),
    "identify-ret-cd": ("identify", "ret-cd"),
    "identify-bad-pin": ("identify", "bad-pin"),
    "identify-no-pin": ("identify", "no-pin"),
    "identify-pin-number": ("identify", "pin-number"),
    "identify-legal-object": ("identify", "legal-object"),
    "identify-null-fields": ("identify", "null-fields"),
    "identify-crlf": ("identify", "crlf"),
    "identify-nested": ("identify", "nested"),
    "logout-500": ("logout", "http-500"),
}

FRONT_SCENARIOS = {
    "abandon": "the user never finishes: no redirect",
    "no-code": "redirect back without a code",
    "error": "redirect back with error=access_denied",
}
