"""The embedded default corpus: a deterministic, synthetic C4-style web corpus that looks like the web.

``generate(out_dir)`` writes shards in the allenai/c4 layout (JSON Lines + gzip, keys ``text``,
``timestamp``, ``url``) and/or as zstd Parquet with the same three columns, plus ``MANIFEST.json``
(numbers and per-feature ground truth) and ``near_duplicates.json`` (which document copies which).

What is in it, on purpose, so that every scanner has something to find:

- registered domains drawn Zipf-like (s=1.1) from a pool of synthetic domains with a realistic suffix
  mix, PSL private-section platform hosts (``<user>.github.io``, ``<user>.blogspot.com``) and
  ``<user>.wordpress.com`` (not on the PSL: its registered domain is ``wordpress.com``), subdomains,
  and a few URL quirks (uppercase host, port, trailing-dot FQDN, IDN host, IPv4 literal);
- crawl timestamps spread over 2013-2024;
- English-looking prose from an embedded vocabulary with Zipf word frequencies (no digits in prose,
  so every number in a document was put there deliberately and is counted);
- near-duplicate pages (~5%) and exact duplicates (~1%) of earlier documents, on other URLs;
- PII and secrets (emails, phones, Luhn-valid cards, mod-97-valid IBANs, SSN-like numbers, AWS keys,
  GitHub tokens, an RSA private key block, JWTs, password assignments) and look-alike distractors
  (Luhn-invalid card numbers, dates, ISBNs, version numbers, prices);
- Creative Commons notices (plain text and the chooser's HTML fragment) and forum posts with code whose
  header carries an SPDX line or a license notice.

Each injected kind goes into 1-5% of the documents (about 40% get at least one), at a paragraph
boundary or appended to a paragraph; the prose itself comes from a vectorised generator (numpy gathers
of pre-rendered word pieces; no Python call per word), so generation time is mostly prose and gzip.
Same arguments give byte-identical files (gzip mtime 0 and a fixed name in its header; Parquet
carries no timestamps). Documents are made and written in chunks, so memory stays flat as ``docs`` grows.
The documents do not depend on ``shards`` or ``formats``: document ``i`` is the same whatever the
sharding, only the file it lands in changes.

MANIFEST.json keys: ``generator``, ``manifest_version``, ``seed``, ``docs``, ``bytes`` (UTF-8 bytes of
all texts), ``doc_bytes_target``, ``shards``, ``formats``, ``files``, ``shard_docs`` (first document
index and count per shard), ``columns``, ``features`` (name -> ``{"docs": n, "values": m}``: documents
carrying the feature, and values injected, copies of a document included), ``feature_groups`` (pii,
secret, distractor, license, duplicate, url), ``near_duplicates`` / ``exact_duplicates`` (pair counts),
``cc_licenses`` and ``code_spdx`` (documents per SPDX id), ``code_languages``, ``platform_hosts``,
``crawl_years``, ``registered_domains`` (pool size, distinct, top 25 with document counts).
A near or exact copy carries its source's content features (and is counted for them); URL features are
its own. ``url_subdomain`` means a label left of the registered domain (``www.`` included);
``card_luhn_invalid`` is a distractor (a card-shaped number failing Luhn); ``aws_secret_access_key``
rides along with some AWS key ids.
"""

from __future__ import annotations

import argparse
import base64
import bisect
import gzip
import json
import math
import random
import re
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .safeio import arrow_sink, open_new, write_text

__all__ = ["FORMATS", "SampleInfo", "generate", "shard_name", "luhn_valid", "iban_valid"]

#: Output formats ``generate`` knows.
FORMATS = ("jsonl.gz", "parquet")
_EXT = {"jsonl.gz": "json.gz", "parquet": "parquet"}

CHUNK_DOCS = 5000  # documents made (and held) at a time
ROW_GROUP_ROWS = 10_000  # Parquet row group size
GZIP_LEVEL = 1  # zlib level 6 runs at ~10 MB/s on this text, level 1 at ~50 MB/s (files ~15% larger)
MANIFEST_VERSION = 1

YEAR_MIN, YEAR_MAX = 2013, 2024

# ---------------------------------------------------------------------------------------------------------
# Vocabulary (hand-written, roughly in frequency order; Zipf-Mandelbrot weights by rank)
# ---------------------------------------------------------------------------------------------------------

_VOCAB_TEXT = """
the of and to a in is that for it with as was on be at by this have from or are an not but
you all they which one had were their we there been has more when will can who would so if what
its also about out up them into than other some could time only these may then do first any my
now such like our over new most me even made after many before must through back years where much
your way well down should because each just those people how too little state good very make world
still own see men work long get here between both life being under never day same another know
while last might us great old year off come since against go came right used take three states
himself few house use during without again place around however home small found thought went say
part once general high upon school every does got united left number course war until always away
something fact though water less public put think almost hand enough far took head yet government
system better set told nothing night end why called didn't eyes find going look asked later knew
point next city give group toward young days let room president side social given present several
order national possible rather second face per among form important often things looked early white
case john become large big need four within felt along children saw best church ever least power
development light thing seemed family interest want members mind country area others done turned
although open problem sense began help certain whole means different kind york thus itself above
door already week times question business today book seen money young story local party hands
actually either history moment information level friends community result morning service perhaps
matter issue market study water reason research policy program include report body team price rate
support project plan health office provide build weather travel garden kitchen recipe coffee dinner
summer winter spring autumn holiday photo video music movie season player game match club league
coach training fitness product design quality customer online website page blog post comment share
article review guide tips simple easy quick best top great amazing beautiful perfect favorite
special local available free full real sure clear happy hard strong short simple whole true human
natural personal private central common recent similar various major final main current future
special single federal medical financial legal economic political military foreign global digital
mobile modern classic traditional original professional popular serious basic entire huge tiny
bright dark warm cold fresh clean quiet busy rich poor cheap expensive heavy soft careful
river mountain valley forest ocean island beach lake field garden street road bridge station
village town county region district harbor coast desert meadow canyon hill trail park
car bike train plane boat bus truck ticket trip journey flight hotel restaurant menu table chair
window floor wall roof kitchen bedroom bathroom garage basement yard fence gate stairs lamp
computer phone screen camera laptop tablet printer keyboard battery charger cable app update
data network server browser email account user profile setting feature tool device system
software hardware storage memory speed performance install download upload backup cloud
student teacher class lesson course exam degree college university library science math art
history language reading writing music painting drawing theater dance poetry novel author
doctor nurse patient hospital clinic medicine treatment disease symptom care therapy diet
food bread cheese butter sugar salt pepper chicken beef pork fish rice pasta soup salad sauce
fruit apple orange banana lemon berry tomato potato onion garlic carrot bean corn egg milk
cake cookie pie chocolate cream honey tea juice wine beer water breakfast lunch snack meal
dog cat bird horse cow sheep pig rabbit mouse bear wolf fox deer lion tiger whale shark
tree flower grass leaf seed root plant rose oak pine maple bush forest soil rock stone sand
sun moon star sky cloud rain snow wind storm thunder fog ice fire smoke heat light shadow
mother father sister brother son daughter husband wife friend neighbor baby child parent
king queen prince princess captain soldier officer judge lawyer farmer worker manager owner
company industry bank store shop office factory farm market office agency firm brand partner
money cost price value budget tax income salary profit loss payment fee bill loan deal sale
idea plan goal dream hope fear love hate joy pain anger peace trust doubt belief choice
question answer problem solution reason result effect cause change growth progress success
event meeting conference party wedding festival concert show exhibition tour race contest
morning afternoon evening night weekend minute hour moment season decade century period
north south east west left right top bottom front middle inside outside center edge corner
red blue green yellow black white brown gray pink purple golden silver orange
run walk talk speak read write listen watch play sing dance cook eat drink sleep wake drive
buy sell pay spend save earn lose win fight join leave stay wait move stop start finish
open close push pull carry hold throw catch cut break fix build clean wash paint draw
learn teach study understand remember forget believe feel hope wish love like enjoy prefer
create produce develop improve increase reduce grow raise drop fall rise lead follow
offer provide serve support protect prevent avoid allow accept refuse agree decide choose
explain describe discuss mention suggest recommend argue claim report announce confirm
visit travel explore discover return arrive reach enter exit cross climb swim fly ride
quickly slowly easily really certainly probably simply finally usually recently already
often sometimes rarely never always together alone almost nearly quite rather pretty
indeed instead anyway besides meanwhile otherwise therefore however although unless whether
everyone someone anyone nobody everything anything nothing somewhere everywhere anywhere
January February March April May June July August September October November December
Monday Tuesday Wednesday Thursday Friday Saturday Sunday
London Paris Berlin Sydney Toronto Chicago Boston Seattle Denver Austin Dublin Madrid Rome
Vienna Tokyo Melbourne Portland Atlanta Houston Phoenix Dallas Miami Oxford Cambridge
America Europe Asia Africa Australia Canada England France Germany Italy Spain Japan India
Mexico Brazil Ireland Scotland Texas California Florida Ohio Michigan Oregon Virginia
Christmas Easter Google Facebook Twitter Amazon Apple Microsoft Netflix YouTube Instagram
"""

# Words that scanners key on: kept out of the prose so that every occurrence in the corpus was
# injected (and counted), and never changed when a near-duplicate is made.
_NOT_IN_PROSE = {
    "license", "licence", "licensed", "licenses", "licensing", "creative", "commons", "attribution",
    "copyright", "password", "passwd", "secret", "token", "api", "gnu", "gpl", "spdx", "isbn", "ssn",
    "iban", "visa", "mastercard", "warranty", "redistribute", "sharealike", "noncommercial", "reserved",
    "rights", "public", "domain", "permission", "free", "software",
}


def _vocab() -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for w in _VOCAB_TEXT.split():
        if w in seen or w.lower() in _NOT_IN_PROSE or not w.replace("'", "").isalpha():
            continue
        if len(w) > 14:
            continue
        seen.add(w)
        out.append(w)
    return out


VOCAB: tuple[str, ...] = tuple(_vocab())

# ---------------------------------------------------------------------------------------------------------
# Names, domains, boilerplate
# ---------------------------------------------------------------------------------------------------------

_FIRST = """james mary john patricia robert jennifer michael linda william elizabeth david barbara richard
susan joseph jessica thomas sarah charles karen daniel nancy matthew lisa anthony betty mark sandra
paul ashley steven kimberly andrew emily kevin donna brian michelle george carol edward amanda ronald
melissa timothy deborah jason stephanie jeffrey rebecca ryan laura jacob sharon gary cynthia nicholas
kathleen eric amy jonathan angela stephen helen larry anna justin brenda scott pamela brandon emma
benjamin nicole samuel samantha gregory katherine frank christine alexander debra raymond rachel
patrick carolyn jack janet dennis maria jerry heather tyler diane aaron julie jose joyce adam victoria
henry kelly nathan christina douglas lauren zachary joan peter evelyn kyle olivia walter judith ethan
megan jeremy cheryl harold andrea keith hannah christian martha roger jacqueline noah frances gerald
gloria carl ann terry teresa sean kathryn austin sara arthur janice lawrence jean jesse alice dylan
madison bryan doris joe abigail jordan julia billy judy bruce grace albert denise willie amber gabriel
marilyn logan beverly alan danielle juan theresa wayne sophia elijah marie randy diana roy brittany
vincent natalie ralph isabella eugene charlotte russell rose bobby alexis mason kayla philip lucas
hans klaus sabine jurgen pierre marie camille luca giulia sofia mateo yuki hiroshi aiko priya arjun""".split()

_LAST = """smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez lopez
gonzalez wilson anderson thomas taylor moore jackson martin lee perez thompson white harris sanchez
clark ramirez lewis robinson walker young allen king wright scott torres nguyen hill flores green
adams nelson baker hall rivera campbell mitchell carter roberts gomez phillips evans turner diaz
parker cruz edwards collins reyes stewart morris morales murphy cook rogers gutierrez ortiz morgan
cooper peterson bailey reed kelly howard ramos kim cox ward richardson watson brooks chavez wood
james bennett gray mendoza ruiz hughes price alvarez castillo sanders patel myers long ross foster
jimenez powell jenkins perry russell sullivan bell coleman butler henderson barnes gonzales fisher
vasquez simmons romero jordan patterson alexander hamilton graham reynolds griffin wallace moreno
west cole hayes bryant herrera gibson ellis tran medina aguilar stevens murray ford castro marshall
owens harrison fernandez mcdonald woods washington kennedy wells vargas henry chen freeman webb
tucker guzman burns crawford olson simpson porter hunter gordon mendez silva shaw snyder mason
dixon munoz hunt hicks holmes palmer wagner black robertson boyd rose stone salazar fox warren mills
meyer rice schmidt garza daniels ferguson nichols stephens soto weaver ryan gardner payne grant
dunn kelley spencer hawkins arnold pierce hansen peters santos hart bradley knight elliott cunningham
duncan armstrong hudson carroll lane riley andrews ruiz fischer weber schneider muller dubois moreau
rossi bianchi tanaka suzuki sato yamamoto singh sharma""".split()

# Words that make domain labels ("bluecanyonnews", "river-kitchen", ...).
_DOMAIN_WORDS = """blue red green golden silver black white bright happy little big smart quick
daily weekly global local urban rural coastal northern southern eastern western central pacific
atlantic canyon river valley mountain forest ocean island harbor prairie meadow summit ridge
creek lake bay coast desert garden orchard maple oak pine cedar willow aspen birch fox bear wolf
eagle hawk owl falcon raven tiger lion otter beaver bison news times post herald journal gazette
tribune chronicle review report digest weekly insider today media press radio tv studio works labs
tech code dev data cloud web net hub zone spot point base camp shop store market mart deals
outlet supply goods home house living kitchen recipes food cafe bakery farm fresh organic health
fitness yoga wellness care clinic family kids parents travel trips tours journey guide maps world
planet earth nature wild outdoor trail hiking camping fishing golf tennis soccer hockey sports
fans club league music sound audio vinyl guitar piano art design craft photo pixel film movie
books reading library poetry stories writer words ink paper school academy college learning study
science history museum gallery finance money invest capital wealth budget credit law legal
policy civic city county town village metro motor auto cars bikes cycle rail transit energy solar
green power""".split()

# (suffix, weight) for registered domains; platforms are added as a separate share.
_SUFFIXES = [
    ("com", 0.50), ("org", 0.09), ("net", 0.06), ("co.uk", 0.05), ("de", 0.04), ("com.au", 0.03),
    ("io", 0.03), ("fr", 0.02), ("info", 0.02), ("edu", 0.02), ("gov", 0.01), ("ac.uk", 0.01),
    ("co.jp", 0.01), ("com.br", 0.01),
]
# (platform, weight, registered-domain-is-the-user-host): github.io and blogspot.com are in the PSL's
# private section; wordpress.com is not, so all its users share the registered domain wordpress.com.
_PLATFORMS = [("github.io", 0.03, True), ("blogspot.com", 0.03, True), ("wordpress.com", 0.02, False)]

_IDN_DOMAINS = ["bücher-welt.de", "例え.jp", "münchen-reisen.de", "café-crème.fr", "пример-новости.рф"]
_IPV4_HOSTS = ["192.0.2.15", "198.51.100.7", "203.0.113.42", "192.0.2.200"]  # RFC 5737 documentation nets

_SUBDOMAINS = ["blog.", "news.", "m.", "shop.", "en."]

_WEBMAIL = ["gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "aol.com", "gmx.de", "web.de",
            "yahoo.co.uk", "icloud.com", "protonmail.com"]

_HEADERS = [
    "Skip to content",
    "Home | About | Contact | Archives",
    "Menu Home News Sports Business Opinion Lifestyle",
    "You are here: Home / Blog / Uncategorized",
    "Sign in Subscribe Search",
]
_FOOTERS = [
    "Share this: Twitter Facebook LinkedIn Pinterest Email",
    "Leave a comment Cancel reply",
    "Posted in Uncategorized | Tagged news, updates | Leave a reply",
    "Related posts: Read more from our archive.",
    "Powered by WordPress | Theme by Example Themes",
    "Back to top",
]

# ---------------------------------------------------------------------------------------------------------
# Check digits
# ---------------------------------------------------------------------------------------------------------


def _luhn_check_digit(body: str) -> int:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = ord(ch) - 48
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10


def luhn_valid(number: str) -> bool:
    """True if the digits of ``number`` (separators ignored) pass the Luhn check."""
    digits = [c for c in number if c.isdigit()]
    if len(digits) < 2:
        return False
    return _luhn_check_digit("".join(digits[:-1])) == int(digits[-1])


def _iban_numeric(s: str) -> int:
    return int("".join(str(int(c, 36)) for c in s))


def iban_valid(iban: str) -> bool:
    """True if ``iban`` (spaces ignored) has valid ISO 13616 mod-97 check digits."""
    s = iban.replace(" ", "").upper()
    if len(s) < 5 or not s.isalnum():
        return False
    return _iban_numeric(s[4:] + s[:4]) % 97 == 1


def _iban(country: str, bban: str) -> str:
    check = 98 - _iban_numeric(bban + country + "00") % 97
    return f"{country}{check:02d}{bban}"


_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _digits(r: random.Random, k: int) -> str:
    """k random decimal digits (leading zeros allowed)."""
    return f"{r.getrandbits(4 * k + 16) % 10**k:0{k}d}" if k > 0 else ""


def _chars(r: random.Random, alphabet: str, k: int) -> str:
    return "".join(r.choices(alphabet, k=k))


def _b62(n: int, width: int) -> str:
    out = []
    while n:
        n, r = divmod(n, 62)
        out.append(_B62[r])
    return "".join(reversed(out)).rjust(width, "0")


def _b64url(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode("ascii")


# ---------------------------------------------------------------------------------------------------------
# Feature snippets: each returns (snippet, number of values, layout) where layout is "inline" (may be
# appended to a paragraph) or "block" (its own paragraph(s)).
# ---------------------------------------------------------------------------------------------------------


class _Ctx:
    __slots__ = ("r", "domain", "year")

    def __init__(self, r: random.Random, domain: str, year: int):
        self.r = r
        self.domain = domain
        self.year = year


def _person(r: random.Random) -> tuple[str, str]:
    return r.choice(_FIRST), r.choice(_LAST)


def _email(c: _Ctx) -> str:
    r = c.r
    first, last = _person(r)
    user = r.choice([f"{first}.{last}", f"{first}{last}", f"{first[0]}.{last}", f"{first}_{last}{r.randint(1, 99)}",
                     f"{first}", "info", "contact", "hello", "support"])
    dom = c.domain if (c.domain and r.random() < 0.5) else r.choice(_WEBMAIL)
    return f"{user}@{dom}"


def _f_email(c: _Ctx):
    r = c.r
    e1 = _email(c)
    first, last = _person(r)
    k = r.randrange(5)
    if k == 0:
        return f"For more information, email {e1}.", 1, "inline"
    if k == 1:
        return f"Contact {first.title()} {last.title()} at {e1} for details.", 1, "inline"
    if k == 2:
        e2 = _email(c)
        return f"Send your questions to {e1} or {e2}.", 2, "inline"
    if k == 3:
        return f"Email: {e1}", 1, "block"
    return f"Posted by {first.title()} ({e1}) on the mailing list.", 1, "inline"


def _f_email_obf(c: _Ctx):
    r = c.r
    first, last = _person(r)
    user = r.choice([first, f"{first}.{last}", f"{first[0]}{last}"])
    label = r.choice(_DOMAIN_WORDS) + r.choice(_DOMAIN_WORDS)
    tld = r.choice(["com", "org", "net", "de"])
    style = r.randrange(3)
    if style == 0:
        v = f"{user} [at] {label} [dot] {tld}"
    elif style == 1:
        v = f"{user} (at) {label} (dot) {tld}"
    else:
        v = f"{user} AT {label} DOT {tld}"
    return f"To reach me, write to {v} (remove the spaces).", 1, "inline"


def _phone_intl(r: random.Random) -> str:
    k = r.randrange(5)
    if k == 0:  # UK London drama range 020 7946 0000-0999
        return f"+44 20 7946 0{r.randint(0, 999):03d}"
    if k == 1:  # UK mobile drama range
        return f"+44 7700 900{r.randint(0, 999):03d}"
    if k == 2:  # North America 555-0100..0199
        return f"+1 ({r.choice(['415', '212', '312', '617', '206', '512'])}) 555-01{r.randint(0, 99):02d}"
    if k == 3:  # Australia drama range
        return f"+61 2 5550 {r.randint(0, 9999):04d}"
    return f"+33 1 99 00 {r.randint(0, 99):02d} {r.randint(0, 99):02d}"  # France fiction range


def _phone_national(r: random.Random) -> str:
    k = r.randrange(5)
    area = r.choice(["415", "212", "312", "617", "206", "512"])
    if k == 0:
        return f"020 7946 0{r.randint(0, 999):03d}"
    if k == 1:
        return f"({area}) 555-01{r.randint(0, 99):02d}"
    if k == 2:
        return f"{area}-555-01{r.randint(0, 99):02d}"
    if k == 3:
        return f"07700 900{r.randint(0, 999):03d}"
    return f"(02) 5550 {r.randint(0, 9999):04d}"


def _f_phone_intl(c: _Ctx):
    r = c.r
    p = _phone_intl(r)
    k = r.randrange(3)
    if k == 0:
        return f"Call us on {p} during office hours.", 1, "inline"
    if k == 1:
        return f"Phone: {p}", 1, "block"
    p2 = _phone_intl(r)
    return f"You can reach the front desk at {p} or the booking line at {p2}.", 2, "inline"


def _f_phone_national(c: _Ctx):
    r = c.r
    p = _phone_national(r)
    if r.random() < 0.5:
        return f"For bookings call {p}.", 1, "inline"
    return f"Tel. {p}", 1, "block"


_TEST_CARDS = ["4111111111111111", "4242424242424242", "5555555555554444", "5105105105105100",
               "378282246310005", "371449635398431", "6011111111111117", "4012888888881881"]


def _card_number(r: random.Random, valid: bool) -> str:
    if valid and r.random() < 0.3:
        num = r.choice(_TEST_CARDS)
    else:
        kind = r.randrange(4)
        if kind == 0:
            prefix, n = "4", 16
        elif kind == 1:
            prefix, n = f"5{r.randint(1, 5)}", 16
        elif kind == 2:
            prefix, n = r.choice(["34", "37"]), 15
        else:
            prefix, n = "6011", 16
        body = prefix + _digits(r, n - 1 - len(prefix))
        num = body + str(_luhn_check_digit(body))
    if not valid:
        num = num[:-1] + str((int(num[-1]) + r.randint(1, 9)) % 10)
    sep = r.choice([" ", " ", "-", ""])
    if len(num) == 15:
        return f"{num[:4]}{sep}{num[4:10]}{sep}{num[10:]}"
    return sep.join(num[i:i + 4] for i in range(0, 16, 4))


def _f_card_valid(c: _Ctx):
    r = c.r
    n = _card_number(r, True)
    k = r.randrange(3)
    if k == 0:
        return f"Card number: {n}, expiry {r.randint(1, 12):02d}/{r.randint(24, 30)}, CVV {r.randint(100, 999)}", 1, "block"
    if k == 1:
        return f"I paid with my card {n} and the charge still shows as pending.", 1, "inline"
    return f"For testing the checkout we used {n}.", 1, "inline"


def _f_card_invalid(c: _Ctx):
    n = _card_number(c.r, False)
    return f"The reference printed on the receipt was {n}.", 1, "inline"


def _iban_for(r: random.Random) -> str:
    country = r.choice(["DE", "GB", "FR", "NL", "ES", "IT", "CH"])
    dig = lambda k: _digits(r, k)  # noqa: E731
    let = lambda k: _chars(r, _UPPER, k)  # noqa: E731
    bban = {
        "DE": lambda: dig(18),
        "GB": lambda: let(4) + dig(14),
        "FR": lambda: dig(23),
        "NL": lambda: let(4) + dig(10),
        "ES": lambda: dig(20),
        "IT": lambda: let(1) + dig(22),
        "CH": lambda: dig(17),
    }[country]()
    iban = _iban(country, bban)
    if r.random() < 0.6:
        return " ".join(iban[i:i + 4] for i in range(0, len(iban), 4))
    return iban


def _f_iban(c: _Ctx):
    r = c.r
    v = _iban_for(r)
    bic = _chars(r, _UPPER, 4) + v[:2] + r.choice(["2L", "FF", "MM", "22"])
    k = r.randrange(3)
    if k == 0:
        return f"IBAN: {v}", 1, "block"
    if k == 1:
        return f"Please transfer the fee to {v} (BIC {bic}) before the deadline.", 1, "inline"
    return f"Bank details for donations: {v}, BIC {bic}.", 1, "inline"


def _ssn(r: random.Random) -> str:
    area = r.choice([r.randint(1, 665), r.randint(667, 899)])
    return f"{area:03d}-{r.randint(1, 99):02d}-{r.randint(1, 9999):04d}"


def _f_ssn(c: _Ctx):
    r = c.r
    v = _ssn(r)
    if r.random() < 0.5:
        return f"SSN: {v}", 1, "block"
    return f"My social security number is {v} and it was on the form.", 1, "inline"


def _aws_key_id(r: random.Random) -> str:
    return "AKIA" + _chars(r, _B32, 16)


def _f_aws(c: _Ctx):
    r = c.r
    kid = _aws_key_id(r)
    lines = ["[default]", f"aws_access_key_id = {kid}"]
    extra = 0
    if r.random() < 0.5:
        sec = _chars(r, _B62 + "+/", 40)
        lines.append(f"aws_secret_access_key = {sec}")
        extra = 1
    lines.append("region = us-east-1")
    if r.random() < 0.5:
        return "My credentials file looks like this:\n" + "\n".join(lines), (1, extra), "block"
    return f"I exported AWS_ACCESS_KEY_ID={kid} but the upload still fails with access denied.", (1, 0), "inline"


def _github_token(r: random.Random) -> str:
    rnd = _chars(r, _B62, 30)
    return "ghp_" + rnd + _b62(zlib.crc32(rnd.encode("ascii")), 6)


def _f_github(c: _Ctx):
    r = c.r
    t = _github_token(r)
    user = r.choice(_FIRST) + r.choice(_LAST)
    if r.random() < 0.5:
        return (f"export GITHUB_TOKEN={t}\ngit remote set-url origin https://github.com/{user}/"
                f"{r.choice(_DOMAIN_WORDS)}-{r.choice(_DOMAIN_WORDS)}.git"), 1, "block"
    return f"The workflow uses the personal access token {t} to push tags.", 1, "inline"


def _f_private_key(c: _Ctx):
    r = c.r
    raw = r.randbytes(r.randint(600, 900))
    b64 = base64.b64encode(b"\x30\x82\x04\xa4\x02\x01\x00\x02\x82\x01\x01\x00" + raw).decode("ascii")
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    block = "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END RSA PRIVATE KEY-----"
    return "Here is the key file the installer created, is this normal?\n" + block, 1, "block"


def _jwt(r: random.Random) -> str:
    head = _b64url(b'{"alg":"HS256","typ":"JWT"}')
    first, last = _person(r)
    payload = orjson.dumps({"sub": str(r.randint(10**6, 10**7)), "name": f"{first.title()} {last.title()}",
                            "iat": r.randint(1_400_000_000, 1_700_000_000)})
    return f"{head}.{_b64url(payload)}.{_b64url(r.randbytes(32))}"


def _f_jwt(c: _Ctx):
    r = c.r
    t = _jwt(r)
    if r.random() < 0.5:
        return f"Authorization: Bearer {t}", 1, "block"
    return f"The server returned the session cookie {t} after login.", 1, "inline"


def _pw_value(r: random.Random) -> str:
    w = r.choice(VOCAB).lower()
    return r.choice([f"{w}{r.randint(10, 9999)}", f"{w.title()}!{r.randint(1, 99)}", f"{w}_{r.choice(_DOMAIN_WORDS)}#{r.randint(1, 9)}",
                     _chars(r, _B62, 12)])


def _f_password(c: _Ctx):
    r = c.r
    pw = "password"
    v = _pw_value(r)
    k = r.randrange(3)
    if k == 0:
        body = f'DB_HOST = "localhost"\nDB_USER = "admin"\n{pw} = "{v}"'
    elif k == 1:
        body = f"db_{pw} = '{v}'\nconn = connect(host, user, db_{pw})"
    else:
        body = f'config = {{\n    "user": "{r.choice(_FIRST)}",\n    "{pw}": "{v}",\n}}'
    return "This is my settings file, what am I doing wrong?\n" + body, 1, "block"


_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"]


def _f_date(c: _Ctx):
    r = c.r
    y = r.randint(2005, c.year)
    m, d = r.randint(1, 12), r.randint(1, 28)
    k = r.randrange(4)
    if k == 0:
        return f"Posted on {_MONTHS[m - 1]} {d}, {y}.", 1, "inline"
    if k == 1:
        return f"Updated {y}-{m:02d}-{d:02d}", 1, "block"
    if k == 2:
        return f"The event takes place on {d:02d}/{m:02d}/{y}.", 1, "inline"
    return f"Last modified {d:02d}.{m:02d}.{y}", 1, "block"


def _isbn13(r: random.Random) -> str:
    reg = str(r.randint(0, 1))
    pub = str(r.randint(100, 9999))
    title = _digits(r, 8 - len(pub))
    body = "978" + reg + pub + title
    s = sum(int(ch) * (1 if i % 2 == 0 else 3) for i, ch in enumerate(body))
    return f"978-{reg}-{pub}-{title}-{(10 - s % 10) % 10}"


def _f_isbn(c: _Ctx):
    v = _isbn13(c.r)
    return f"The book is still in print (ISBN {v}).", 1, "inline"


def _f_version(c: _Ctx):
    r = c.r
    v = f"{r.randint(0, 9)}.{r.randint(0, 20)}.{r.randint(0, 30)}"
    k = r.randrange(3)
    if k == 0:
        return f"Upgrading to v{v} fixed the crash for me.", 1, "inline"
    if k == 1:
        return f"Tested with version {v} and the previous release.", 1, "inline"
    return f"Changelog for release {v}-beta", 1, "block"


def _f_price(c: _Ctx):
    r = c.r
    k = r.randrange(4)
    if k == 0:
        v = f"${r.randint(1, 2999):,}.{r.randint(0, 99):02d}"
    elif k == 1:
        v = f"£{r.randint(1, 500)}.{r.choice(['00', '50', '99'])}"
    elif k == 2:
        v = f"€{r.randint(1, 500)},{r.choice(['00', '95', '99'])}"
    else:
        v = f"USD {r.randint(10, 5000)}"
    return f"It currently sells for {v} with free shipping.", 1, "inline"


# Creative Commons -------------------------------------------------------------------------------------------

_CC_NAMES = {
    "by": "Attribution", "by-sa": "Attribution-ShareAlike", "by-nc": "Attribution-NonCommercial",
    "by-nc-sa": "Attribution-NonCommercial-ShareAlike", "by-nd": "Attribution-NoDerivatives",
    "by-nc-nd": "Attribution-NonCommercial-NoDerivatives",
}
_CC_KINDS = ["by", "by-sa", "by-nc", "by-nc-sa", "by-nd", "by-nc-nd", "cc0"]
_CC_KIND_W = [0.28, 0.22, 0.14, 0.14, 0.05, 0.07, 0.10]
_CC_VERSIONS = ["4.0", "3.0", "2.5", "2.0"]
_CC_VERSION_W = [0.6, 0.3, 0.05, 0.05]


def _cc_notice(r: random.Random) -> tuple[str, str]:
    kind = r.choices(_CC_KINDS, _CC_KIND_W)[0]
    scheme = "https" if r.random() < 0.7 else "http"
    if kind == "cc0":
        spdx = "CC0-1.0"
        url = f"{scheme}://creativecommons.org/publicdomain/zero/1.0/"
        first, last = _person(r)
        text = (f"To the extent possible under law, {first.title()} {last.title()} has waived all copyright and "
                f"related or neighboring rights to this work. See {url}")
        return text, spdx
    ver = r.choices(_CC_VERSIONS, _CC_VERSION_W)[0]
    name = _CC_NAMES[kind]
    if ver != "4.0":
        name = name.replace("NoDerivatives", "NoDerivs")
    port = {"4.0": "International", "3.0": "Unported"}.get(ver, "Generic")
    spdx = f"CC-{kind.upper()}-{ver}"
    url = f"{scheme}://creativecommons.org/licenses/{kind}/{ver}/"
    long_name = f"Creative Commons {name} {ver} {port} License"
    style = r.randrange(4)
    if style == 0:
        text = f"This work is licensed under a {long_name}. To view a copy of this license, visit {url}"
    elif style == 1:
        short = f"CC {kind.upper()} {ver}"
        text = f"Text and photos on this page are available under {short} ({url}) unless stated otherwise."
    elif style == 2:
        text = (f'<a rel="license" href="{url}"><img alt="Creative Commons License" style="border-width:0" '
                f'src="https://i.creativecommons.org/l/{kind}/{ver}/88x31.png" /></a><br />This work is licensed '
                f'under a <a rel="license" href="{url}">{long_name}</a>.')
    else:
        text = f"Except where otherwise noted, content on this site is licensed under a {long_name} ({url})."
    return text, spdx


# Code with license headers ----------------------------------------------------------------------------------

_SPDX_IDS = ["MIT", "Apache-2.0", "BSD-3-Clause", "GPL-2.0-or-later", "GPL-3.0-or-later", "LGPL-2.1-or-later",
             "MPL-2.0"]
_SPDX_W = [0.32, 0.22, 0.1, 0.12, 0.12, 0.06, 0.06]

_GPL_NOTICE = (
    "This program is free software; you can redistribute it and/or modify it under the terms of the GNU "
    "General Public License as published by the Free Software Foundation; either version {v} of the License, "
    "or (at your option) any later version.\n"
    "This program is distributed in the hope that it will be useful, but WITHOUT ANY WARRANTY; without even "
    "the implied warranty of MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE. See the GNU General Public "
    "License for more details."
)
_APACHE_NOTICE = (
    'Licensed under the Apache License, Version 2.0 (the "License"); you may not use this file except in '
    "compliance with the License. You may obtain a copy of the License at\n"
    "http://www.apache.org/licenses/LICENSE-2.0\n"
    "Unless required by applicable law or agreed to in writing, software distributed under the License is "
    'distributed on an "AS IS" BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.'
)
_MIT_NOTICE = (
    "Permission is hereby granted, free of charge, to any person obtaining a copy of this software and "
    'associated documentation files (the "Software"), to deal in the Software without restriction, including '
    "without limitation the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell "
    "copies of the Software."
)
_NOTICES = {"GPL-2.0-or-later": _GPL_NOTICE.format(v=2), "GPL-3.0-or-later": _GPL_NOTICE.format(v=3),
            "Apache-2.0": _APACHE_NOTICE, "MIT": _MIT_NOTICE}

_PY_FUNCS = [
    """def {verb}_{noun}(items, limit=10):
    \"\"\"Return the {noun} entries, at most limit of them.\"\"\"
    result = []
    for item in items:
        if item.get("{noun}"):
            result.append(item["{noun}"])
        if len(result) >= limit:
            break
    return result""",
    """def {verb}_{noun}(path):
    total = 0
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            total += len(line.split())
    return total""",
    """class {Noun}Cache:
    def __init__(self, size=128):
        self.size = size
        self.data = {{}}

    def {verb}(self, key, value):
        if len(self.data) >= self.size:
            self.data.pop(next(iter(self.data)))
        self.data[key] = value""",
]
_C_FUNCS = [
    """static int {verb}_{noun}(const char *s, size_t n)
{{
    int count = 0;
    for (size_t i = 0; i < n; i++) {{
        if (s[i] == ' ')
            count++;
    }}
    return count;
}}""",
    """int {verb}_{noun}(struct {noun} *p, int flags)
{{
    if (!p)
        return -1;
    p->flags |= flags;
    return p->count;
}}""",
]
_JS_FUNCS = [
    """function {verb}{Noun}(list, key) {{
  const out = {{}};
  for (const item of list) {{
    const k = item[key];
    out[k] = (out[k] || 0) + 1;
  }}
  return out;
}}""",
    """export const {verb}{Noun} = async (url) => {{
  const res = await fetch(url);
  if (!res.ok) throw new Error(`request failed: ${{res.status}}`);
  return res.json();
}};""",
]
_VERBS = ["count", "parse", "load", "find", "merge", "split", "render", "fetch", "build", "clean", "update", "sort"]
_NOUNS = ["words", "lines", "items", "users", "pages", "tags", "records", "events", "files", "nodes", "orders"]

_CODE_INTRO = [
    "Here is the function I ended up with:",
    "I found this snippet in an old project and it still works:",
    "Posting the code in case it helps someone:",
    "This is what I have so far, any ideas?",
]
_CODE_OUTRO = ["Hope this helps.", "Any help would be appreciated.", "Thanks in advance!", "Works fine on my machine."]


def _code_block(r: random.Random) -> tuple[str, str, str, str]:
    lang = r.choices(["python", "c", "javascript"], [0.45, 0.25, 0.30])[0]
    spdx = r.choices(_SPDX_IDS, _SPDX_W)[0]
    verb, noun = r.choice(_VERBS), r.choice(_NOUNS)
    tpl = r.choice({"python": _PY_FUNCS, "c": _C_FUNCS, "javascript": _JS_FUNCS}[lang])
    body = tpl.format(verb=verb, noun=noun, Noun=noun.title())
    first, last = _person(r)
    holder = f"Copyright (c) {r.randint(2008, 2023)} {first.title()} {last.title()}"
    style = "spdx_line" if (spdx not in _NOTICES or r.random() < 0.55) else "notice"
    cmt = "#" if lang == "python" else "//"
    if style == "spdx_line":
        header = [f"{cmt} SPDX-License-Identifier: {spdx}", f"{cmt} {holder}"]
        if lang == "c" and r.random() < 0.5:
            header = [f"/* SPDX-License-Identifier: {spdx} */", f"/* {holder} */"]
    else:
        lines = [holder] + _NOTICES[spdx].split("\n")
        if lang == "python":
            header = [f"# {ln}" for ln in lines]
        else:
            header = ["/*"] + [f" * {ln}" for ln in lines] + [" */"]
    code = "\n".join(header) + "\n\n" + body
    text = f"{r.choice(_CODE_INTRO)}\n{code}\n{r.choice(_CODE_OUTRO)}"
    return text, spdx, style, lang


# The injected kinds: name -> (rate among original documents, snippet function, group).
_Snippet = Callable[[_Ctx], tuple]
_KINDS: dict[str, tuple[float, _Snippet, str]] = {
    "email": (0.03, _f_email, "pii"),
    "email_obfuscated": (0.01, _f_email_obf, "pii"),
    "phone_intl": (0.03, _f_phone_intl, "pii"),
    "phone_national": (0.02, _f_phone_national, "pii"),
    "card_luhn_valid": (0.03, _f_card_valid, "pii"),
    "iban": (0.03, _f_iban, "pii"),
    "ssn": (0.02, _f_ssn, "pii"),
    "aws_access_key_id": (0.02, _f_aws, "secret"),
    "github_token": (0.02, _f_github, "secret"),
    "private_key": (0.01, _f_private_key, "secret"),
    "jwt": (0.02, _f_jwt, "secret"),
    "password_assignment": (0.02, _f_password, "secret"),
    "card_luhn_invalid": (0.01, _f_card_invalid, "distractor"),
    "date": (0.05, _f_date, "distractor"),
    "isbn": (0.02, _f_isbn, "distractor"),
    "version": (0.03, _f_version, "distractor"),
    "price": (0.04, _f_price, "distractor"),
}
_CC_RATE = 0.04
_CODE_RATE = 0.03
_NEAR_DUP_RATE = 0.05
_EXACT_DUP_RATE = 0.01
_QUIRK_RATE = 0.001  # per quirk kind; at least one per chunk of >= 100 docs
_QUIRKS = ["url_uppercase_host", "url_port", "url_trailing_dot", "url_idn_host", "url_ipv4_host"]
_NOT_INHERITED = ("url_", "near_duplicate", "exact_duplicate")  # a copy has its own URL and copy status

#: Feature names in the manifest, grouped.
FEATURE_GROUPS = {
    "pii": [k for k, v in _KINDS.items() if v[2] == "pii"],
    "secret": [k for k, v in _KINDS.items() if v[2] == "secret"] + ["aws_secret_access_key"],
    "distractor": [k for k, v in _KINDS.items() if v[2] == "distractor"],
    "license": ["creative_commons", "cc_html_fragment", "code_license", "code_spdx_line", "code_license_notice"],
    "duplicate": ["near_duplicate", "exact_duplicate", "near_duplicate_boilerplate"],
    "url": _QUIRKS + ["url_http", "url_subdomain", "url_platform_host"],
}

# ---------------------------------------------------------------------------------------------------------
# Prose generator (vectorised)
# ---------------------------------------------------------------------------------------------------------

_PIECE_W = 16  # bytes per pre-rendered piece (longest: " " + 14-letter word + ",")
_LUT_BITS = 20  # Zipf sampling by table look-up: word probabilities quantised to 2**-20
_PROSE_BATCH = 1000  # documents per vectorised batch (bounds the temporaries)
_COMMA_RATE = 0.06


@dataclass(frozen=True)
class _Pieces:
    rows: np.ndarray  # (P, 2) uint64: piece k's bytes, NUL-padded to 16
    used: np.ndarray  # (P, 16) bool: which of those 16 bytes belong to the piece
    lens: np.ndarray  # (P,) int64
    lut: np.ndarray  # (2**20,) int16: uniform 20-bit integer -> piece " w" or " w,", w Zipf distributed
    mean_word_bytes: float  # expected bytes of " word"


@lru_cache(maxsize=1)
def _pieces() -> _Pieces:
    """Pre-rendered word pieces. For word w (id i < V) piece i + k*V is, for variant k:
    0 " w", 1 " w,", 2 " W" (sentence start), 3 "\\nW" (paragraph start), 4 "W" (document start);
    pieces 5V, 5V+1, 5V+2 are ".", "?", "!"."""
    V = len(VOCAB)
    rows: list[bytes] = []
    variants = [
        lambda w: " " + w,
        lambda w: " " + w + ",",
        lambda w: " " + w[0].upper() + w[1:],
        lambda w: "\n" + w[0].upper() + w[1:],
        lambda w: w[0].upper() + w[1:],
    ]
    for fn in variants:
        rows.extend(fn(w).encode("ascii") for w in VOCAB)
    rows.extend([b".", b"?", b"!"])
    table = np.zeros((len(rows), _PIECE_W), dtype=np.uint8)
    lens = np.zeros(len(rows), dtype=np.int64)
    for i, b in enumerate(rows):
        assert len(b) <= _PIECE_W
        table[i, : len(b)] = np.frombuffer(b, dtype=np.uint8)
        lens[i] = len(b)
    ranks = np.arange(1, V + 1, dtype=np.float64)
    p = 1.0 / (ranks + 2.7)  # Zipf-Mandelbrot, s = 1
    p /= p.sum()
    # joint (word, comma after it) distribution: pieces 0..V-1 and V..2V-1, commas after ~6% of words
    cdf = np.cumsum(np.concatenate([p * (1 - _COMMA_RATE), p * _COMMA_RATE]))
    grid = (np.arange(1 << _LUT_BITS) + 0.5) / (1 << _LUT_BITS)
    lut = np.minimum(np.searchsorted(cdf, grid, side="right"), 2 * V - 1).astype(np.int16)
    used = np.arange(_PIECE_W)[None, :] < lens[:, None]
    return _Pieces(table.view(np.uint64), used, lens, lut, float(np.dot(p, lens[:V])))


def _prose(rng: np.random.Generator, targets: np.ndarray) -> list[str]:
    """One prose document per target length (bytes), built without any per-word Python call."""
    out: list[str] = []
    for a in range(0, len(targets), _PROSE_BATCH):
        out.extend(_prose_batch(rng, targets[a:a + _PROSE_BATCH]))
    return out


def _prose_batch(rng: np.random.Generator, targets: np.ndarray) -> list[str]:
    P = _pieces()
    V = len(VOCAB)
    n = len(targets)
    if n == 0:
        return []
    need_words = float(targets.sum()) / P.mean_word_bytes
    est = 1.0
    while True:
        n_sent = int(need_words * est / 16.5) + n + 16
        slen = (3 + rng.gamma(2.5, 5.4, n_sent)).astype(np.int64)  # words per sentence, mean ~16.5
        ends = np.cumsum(slen + 1)  # exclusive end token of each sentence (words + end punctuation)
        starts = ends - (slen + 1)
        T = int(ends[-1])
        # every token drawn as a word; the end-of-sentence slots are overwritten below
        tok = np.take(P.lut, rng.integers(0, 1 << _LUT_BITS, T, dtype=np.int32)).astype(np.int32)
        tok[ends - 2] %= V  # no comma right before the end punctuation
        pr = rng.random(n_sent)
        tok[ends - 1] = 5 * V + (pr < 0.05) + (pr < 0.02)  # ".", "?" 3%, "!" 2%
        tok[starts] = (tok[starts] % V) + 2 * V  # capitalised sentence start (" W" for now)
        tlen = np.take(P.lens, tok)
        sent_bytes = np.add.reduceat(tlen, starts)
        csb = np.cumsum(sent_bytes)
        # a document takes the sentences whose middle falls within its target
        b = np.searchsorted(csb - sent_bytes / 2.0, np.cumsum(targets), side="left")
        idx = np.arange(1, n + 1)
        b = np.maximum.accumulate(np.maximum(b - idx, 0)) + idx  # exclusive sentence ends, >= 1 sentence each
        if b[-1] <= n_sent:
            break
        est *= 1.25
    n_used = int(b[-1])
    first_tok = starts[:n_used]
    para = rng.random(n_used) < 0.3
    tok[first_tok[para]] += V  # paragraph start: "\\nW"
    doc_first = first_tok[np.concatenate([[0], b[:-1]])]
    tok[doc_first] = (tok[doc_first] % V) + 4 * V  # document start: "W"
    tok = tok[: int(ends[n_used - 1])]
    tok_end = np.cumsum(np.take(P.lens, tok))
    # gather every token's padded 16 bytes, then keep the bytes that belong to the pieces
    padded = np.take(P.rows, tok, axis=0).view(np.uint8)
    text = padded[np.take(P.used, tok, axis=0)].tobytes().decode("ascii")
    doc_end = tok_end[ends[b - 1] - 1].tolist()
    doc_start = [0] + doc_end[:-1]
    return [text[s:e] for s, e in zip(doc_start, doc_end)]


# ---------------------------------------------------------------------------------------------------------
# Domains and URLs
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Pool:
    base: list[str]  # host without subdomain: "bluecanyonnews.com", "janedoe.github.io"
    regdom: list[str]  # registered domain (PSL incl. private section)
    platform: list[str]  # "" or the platform suffix
    cdf: np.ndarray  # Zipf cumulative probabilities over pool order (rank order)


def _make_pool(rng: np.random.Generator, size: int) -> _Pool:
    r = random.Random(int(rng.integers(2**62)))
    suf_names = [s for s, _ in _SUFFIXES] + [f"@{p}" for p, _, _ in _PLATFORMS]
    suf_w = np.array([w for _, w in _SUFFIXES] + [w for _, w, _ in _PLATFORMS])
    picks = r.choices(suf_names, weights=suf_w.tolist(), k=size)
    seen: set[str] = set()
    base, regdom, platform = [], [], []
    for suf in picks:
        while True:
            if suf.startswith("@"):
                first, last = _person(r)
                label = r.choice([f"{first}{last}", f"{first}-{r.choice(_DOMAIN_WORDS)}", f"{r.choice(_DOMAIN_WORDS)}{last}",
                                  f"{first}{r.randint(1, 99)}"])
            else:
                k = r.random()
                w1, w2, w3 = r.choice(_DOMAIN_WORDS), r.choice(_DOMAIN_WORDS), r.choice(_DOMAIN_WORDS)
                if k < 0.65:
                    label = w1 + w2
                elif k < 0.85:
                    label = f"{w1}-{w2}"
                else:
                    label = w1 + w2 + w3
            host = f"{label}.{suf.lstrip('@')}"
            if 3 <= len(label) <= 40 and host not in seen:
                break
        seen.add(host)
        base.append(host)
        if suf.startswith("@"):
            plat = suf[1:]
            own = next(o for p, _, o in _PLATFORMS if p == plat)
            regdom.append(host if own else plat)
            platform.append(plat)
        else:
            regdom.append(host)
            platform.append("")
    ranks = np.arange(1, size + 1, dtype=np.float64)
    p = ranks ** -1.1
    return _Pool(base, regdom, platform, np.cumsum(p / p.sum()))


_SLUG_WORDS: tuple[str, ...] = tuple(w for w in VOCAB if w.islower() and "'" not in w)


def _mix_index(i: np.ndarray, a: int, b: int, m: int) -> np.ndarray:
    """A bijection on [0, m) (a coprime to m), so ids derived from it never repeat (needs i * a < 2**63)."""
    return (i * a + b) % m


# ---------------------------------------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------------------------------------

_SCHEMA = pa.schema([pa.field("text", pa.string()), pa.field("timestamp", pa.string()), pa.field("url", pa.string())])


def shard_name(i: int, shards: int, fmt: str) -> str:
    """File name of shard ``i`` of ``shards`` for a format in FORMATS."""
    return f"c4-sample.{i:05d}-of-{shards:05d}.{_EXT[fmt]}"


class _ShardWriter:
    def __init__(self, out_dir: Path, i: int, shards: int, formats: tuple[str, ...]):
        self.paths: list[Path] = []
        self._gz = None
        self._raw = None
        self._pq = None
        self._pq_file = None
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._closed = False
        for fmt in formats:
            final = out_dir / shard_name(i, shards, fmt)
            final.unlink(missing_ok=True)  # a fresh inode: no flush-on-replace of an old file's blocks
            self.paths.append(final)
            # created by this call (exclusive, never through a symlink planted at the name), written through its fd
            if fmt == "jsonl.gz":
                self._raw = open_new(final)
                # a fixed name in the header (not the directory) and mtime 0: byte-identical output
                self._gz = gzip.GzipFile(filename=final.name[: -len(".gz")], mode="wb", fileobj=self._raw,
                                         compresslevel=GZIP_LEVEL, mtime=0)
            else:
                self._pq_file = arrow_sink(open_new(final))
                self._pq = pq.ParquetWriter(self._pq_file, _SCHEMA, compression="zstd")

    def write(self, table: pa.Table, texts: list[str], stamps: list[str], urls: list[str]) -> None:
        if self._gz is not None:
            dumps, opt = orjson.dumps, orjson.OPT_APPEND_NEWLINE
            for a in range(0, len(texts), 1000):
                self._gz.write(b"".join([dumps({"text": t, "timestamp": s, "url": u}, option=opt)
                                         for t, s, u in zip(texts[a:a + 1000], stamps[a:a + 1000], urls[a:a + 1000])]))
        if self._pq is not None:
            self._pending.append(table)
            self._pending_rows += table.num_rows
            while self._pending_rows >= ROW_GROUP_ROWS:
                self._flush(ROW_GROUP_ROWS)

    def _flush(self, rows: int) -> None:
        t = pa.concat_tables(self._pending)
        head, rest = t.slice(0, rows), t.slice(rows)
        self._pq.write_table(head, row_group_size=ROW_GROUP_ROWS)
        self._pending = [rest] if rest.num_rows else []
        self._pending_rows = rest.num_rows

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._gz is not None:
            self._gz.close()
            self._raw.close()
        if self._pq is not None:
            try:
                if self._pending_rows:
                    self._flush(self._pending_rows)
                self._pq.close()
            finally:
                self._pq_file.close()


# ---------------------------------------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------------------------------------


@dataclass
class SampleInfo:
    """What ``generate`` wrote. ``bytes`` is the total UTF-8 size of all texts."""

    out_dir: Path
    files: list[Path]
    docs: int
    bytes: int
    seed: int
    manifest: dict = field(default_factory=dict, repr=False)

    @property
    def manifest_path(self) -> Path:
        return self.out_dir / "MANIFEST.json"


class _Counter:
    def __init__(self) -> None:
        self.docs: dict[str, int] = {}
        self.values: dict[str, int] = {}

    def add(self, feats: dict[str, int]) -> None:
        for k, v in feats.items():
            self.docs[k] = self.docs.get(k, 0) + 1
            self.values[k] = self.values.get(k, 0) + v


def _insert(r: random.Random, text: str, snippets: list[tuple[str, str]]) -> str:
    paras = text.split("\n")
    for snip, layout in snippets:
        if layout == "inline" and r.random() < 0.6:
            j = r.randrange(len(paras))
            paras[j] = paras[j] + " " + snip
        else:
            paras.insert(r.randrange(len(paras) + 1), snip)
    return "\n".join(paras)


_REPLACEABLE = frozenset(w for w in VOCAB if w.islower())
_REPLACE_LIST = tuple(sorted(_REPLACEABLE))
_PURE_PROSE = re.compile(r"[A-Za-z' ,.?!]+")


def _near_copy(r: random.Random, src: str) -> tuple[str, bool]:
    """A near-duplicate: a few prose words swapped, maybe a boilerplate header and/or footer.

    Only paragraphs of pure generated prose are touched, so injected values, notices and code headers
    survive unchanged (the copy carries exactly its source's features).
    """
    paras = src.split("\n")
    prose = [i for i, p in enumerate(paras) if _PURE_PROSE.fullmatch(p)]
    if prose:
        k = max(1, min(8, src.count(" ") // 100))
        done = 0
        for _attempt in range(k * 12):
            if done >= k:
                break
            i = prose[r.randrange(len(prose))]
            words = paras[i].split(" ")
            j = r.randrange(len(words))
            if words[j] in _REPLACEABLE:
                words[j] = r.choice(_REPLACE_LIST)
                paras[i] = " ".join(words)
                done += 1
    text = "\n".join(paras)
    boiler = False
    x = r.random()
    if x < 0.3:
        text = r.choice(_HEADERS) + "\n" + text
        boiler = True
    elif x < 0.55:
        text = text + "\n" + r.choice(_FOOTERS)
        boiler = True
    elif x < 0.7:
        text = r.choice(_HEADERS) + "\n" + text + "\n" + r.choice(_FOOTERS)
        boiler = True
    return text, boiler


def _check_args(docs: int, shards: int, formats: tuple[str, ...], doc_bytes: int) -> tuple[str, ...]:
    if isinstance(formats, str):
        formats = (formats,)
    formats = tuple(dict.fromkeys(formats))
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise ValueError(f"unknown format(s) {bad or formats!r}; choose from {FORMATS}")
    if docs < 0:
        raise ValueError("docs must be >= 0")
    if shards < 1:
        raise ValueError("shards must be >= 1")
    if doc_bytes < 200:
        raise ValueError("doc_bytes must be >= 200")
    return formats


def generate(out_dir: str | Path, docs: int = 20000, shards: int = 4, seed: int = 0,
             formats: tuple[str, ...] = ("jsonl.gz", "parquet"), doc_bytes: int = 3500) -> SampleInfo:
    """Write the synthetic C4-style corpus into ``out_dir`` and return what was written.

    ``shards`` files per format (``c4-sample.NNNNN-of-MMMMM.json.gz`` / ``.parquet``), documents split
    across shards contiguously and in the same order in every format; ``MANIFEST.json`` with the counts;
    ``near_duplicates.json`` with ``[doc_index, source_index]`` pairs (global 0-based document indices).

    Documents are made in chunks of ``CHUNK_DOCS``; one background thread serialises and compresses
    chunk k while chunk k+1 is made (at most two chunks in memory, plus the previous one as a source
    of duplicates). The output does not depend on that: one thread writes, in document order.
    """
    formats = _check_args(docs, shards, formats, doc_bytes)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    corpus = _Corpus(seed, doc_bytes)
    sink = _Sink(out, shards, formats, docs)
    ok = False
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="provenance-sample-writer") as ex:
        pending: Future | None = None
        try:
            for start in range(0, docs, CHUNK_DOCS):
                n = min(CHUNK_DOCS, docs - start)
                texts, stamps, urls = corpus.chunk(start, n)
                if pending is not None:
                    pending.result()
                pending = ex.submit(sink.write, start, texts, stamps, urls)
            if pending is not None:
                pending.result()
                pending = None
            ok = True
        finally:
            if pending is not None:  # failing: let the writer finish before closing its files
                try:
                    pending.result()
                except Exception:
                    pass
            sink.close(create_missing=ok)

    manifest = corpus.manifest(docs, shards, formats, sink)
    _write_json(out / "near_duplicates.json", {"near_duplicates": corpus.near_pairs,
                                               "exact_duplicates": corpus.exact_pairs,
                                               "note": "[doc_index, source_index]; 0-based indices in corpus order"},
                compact_lists=True)
    _write_json(out / "MANIFEST.json", manifest)
    return SampleInfo(out_dir=out, files=list(sink.files), docs=docs, bytes=sink.total_bytes, seed=seed,
                      manifest=manifest)


class _Sink:
    """Shard files of every format; documents arrive in order, chunk by chunk."""

    def __init__(self, out: Path, shards: int, formats: tuple[str, ...], docs: int):
        self.out = out
        self.shards = shards
        self.formats = formats
        self.bounds = [(i * docs) // shards for i in range(shards + 1)]
        self.writers: list[_ShardWriter] = []
        self.files: list[Path] = []
        self.total_bytes = 0

    def _writer(self, shard: int) -> _ShardWriter:
        while len(self.writers) <= shard:
            w = _ShardWriter(self.out, len(self.writers), self.shards, self.formats)
            self.writers.append(w)
            self.files.extend(w.paths)
        return self.writers[shard]

    def write(self, start: int, texts: list[str], stamps: list[str], urls: list[str]) -> None:
        n = len(texts)
        text_arr = pa.array(texts, type=pa.string())
        self.total_bytes += int(pc.sum(pc.binary_length(text_arr)).as_py() or 0)
        table = pa.Table.from_arrays([text_arr, pa.array(stamps, pa.string()), pa.array(urls, pa.string())],
                                     schema=_SCHEMA)
        pos = start
        while pos < start + n:  # split the chunk at shard boundaries
            shard = _shard_of(self.bounds, pos)
            end = min(start + n, self.bounds[shard + 1])
            a, b = pos - start, end - start
            w = self._writer(shard)
            w.write(table.slice(a, b - a), texts[a:b], stamps[a:b], urls[a:b])
            if end == self.bounds[shard + 1]:
                w.close()  # the shard is complete: flush it and free its buffers now
            pos = end

    def close(self, create_missing: bool) -> None:
        try:
            if create_missing:
                self._writer(self.shards - 1)  # shards that got no documents exist too (empty)
        finally:
            for w in self.writers:
                w.close()


class _Corpus:
    """Makes the documents chunk by chunk, drawing all randomness in a fixed order, and keeps the counts."""

    def __init__(self, seed: int, doc_bytes: int):
        self.seed = seed
        self.doc_bytes = doc_bytes
        self.rng = rng = np.random.default_rng(seed)
        self.pool = _make_pool(rng, 3000)
        self.perm = rng.permutation(len(self.pool.base))  # rank -> pool entry (the biggest is not the first made)
        V = len(_SLUG_WORDS)
        self.m_slug = V**3
        self.a_slug = _coprime(int(rng.integers(self.m_slug // 3, self.m_slug)), self.m_slug)
        self.b_slug = int(rng.integers(self.m_slug))
        self.m_id = 9 * 10**7
        self.a_id = _coprime(int(rng.integers(self.m_id // 3, self.m_id)), self.m_id)
        self.b_id = int(rng.integers(self.m_id))
        self.t0 = int(np.datetime64(f"{YEAR_MIN}-01-01T00:00:00", "s").astype(np.int64))
        self.t1 = int(np.datetime64(f"{YEAR_MAX + 1}-01-01T00:00:00", "s").astype(np.int64))
        self.sigma = 0.85
        self.mu = math.log(doc_bytes) - self.sigma**2 / 2
        # counts
        self.counter = _Counter()
        self.cc_licenses: dict[str, int] = {}
        self.code_spdx: dict[str, int] = {}
        self.code_lang: dict[str, int] = {}
        self.platforms: dict[str, int] = {}
        self.years = np.zeros(YEAR_MAX - YEAR_MIN + 1, dtype=np.int64)
        self.pool_hits = np.zeros(len(self.pool.base), dtype=np.int64)
        self.near_pairs: list[list[int]] = []
        self.exact_pairs: list[list[int]] = []
        # the previous chunk (sources for duplicates)
        self.prev_texts: list[str] = []
        self.prev_feats: list[dict[str, int]] = []
        self.prev_pool: list[int] = []
        self.prev_start = 0

    def chunk(self, start: int, n: int) -> tuple[list[str], list[str], list[str]]:
        rng, pool = self.rng, self.pool
        n_pool = len(pool.base)
        gidx = np.arange(start, start + n, dtype=np.int64)
        r = random.Random(int(rng.integers(2**62)))
        # lengths and prose
        targets = np.clip(rng.lognormal(self.mu, self.sigma, n), 120, self.doc_bytes * 30)
        texts = _prose(rng, targets)
        # duplicates
        kind = rng.random(n)
        is_exact = (kind < _EXACT_DUP_RATE) & (gidx > 0)
        is_near = (kind >= _EXACT_DUP_RATE) & (kind < _EXACT_DUP_RATE + _NEAR_DUP_RATE) & (gidx > 0)
        is_orig = ~(is_exact | is_near)
        # crawl time, domain
        secs = rng.integers(self.t0, self.t1, n)
        stamps_np = np.datetime_as_string(secs.astype("datetime64[s]"), unit="s")
        year_np = stamps_np.astype("U4").astype(np.int64)
        rank = np.minimum(np.searchsorted(pool.cdf, rng.random(n) * pool.cdf[-1], side="right"), n_pool - 1)
        pidx_np = self.perm[rank]
        # features on original documents
        feat_masks = {k: (rng.random(n) < rate) & is_orig for k, (rate, _, _) in _KINDS.items()}
        cc_mask = (rng.random(n) < _CC_RATE) & is_orig
        code_mask = (rng.random(n) < _CODE_RATE) & is_orig
        # URL quirks (exclusive; a fixed small number per chunk)
        q_order = rng.permutation(n)
        nq = max(1, round(_QUIRK_RATE * n)) if n >= 100 else 0
        quirk_np = np.full(n, -1, dtype=np.int64)
        for qi in range(len(_QUIRKS)):
            quirk_np[q_order[qi * nq:(qi + 1) * nq]] = qi
        pidx_np = np.where(quirk_np >= 3, -1, pidx_np)  # IDN and IPv4 hosts are outside the pool
        sub_roll = rng.random(n).tolist()
        https = (rng.random(n) >= np.clip(0.65 - (year_np - YEAR_MIN) * 0.06, 0.03, 1.0)).tolist()
        V = len(_SLUG_WORDS)
        code = _mix_index(gidx, self.a_slug, self.b_slug, self.m_slug)
        slug3 = np.stack([code % V, (code // V) % V, code // (V * V)], axis=1)
        extra = rng.integers(0, V, (n, 3))
        n_extra = rng.integers(0, 4, n)
        slug_ids = np.concatenate([slug3, extra], axis=1).tolist()
        slug_len = (3 + n_extra).tolist()
        ids = (_mix_index(gidx, self.a_id, self.b_id, self.m_id) + 10**7).tolist()
        pattern = rng.integers(0, 8, n).tolist()
        pub_back = np.minimum(rng.geometric(0.5, n) - 1, 4).tolist()
        year = year_np.tolist()
        quirk = quirk_np.tolist()
        pidx = pidx_np.tolist()

        feats: list[dict[str, int]] = [{} for _ in range(n)]
        # 1) inject into original documents
        any_mask = cc_mask | code_mask | np.logical_or.reduce(list(feat_masks.values()))
        masks = {k: m.tolist() for k, m in feat_masks.items()}
        ccl, codel = cc_mask.tolist(), code_mask.tolist()
        for j in np.flatnonzero(any_mask).tolist():
            p = pidx[j]
            ctx = _Ctx(r, pool.regdom[p] if p >= 0 else "", year[j])
            f = feats[j]
            snippets: list[tuple[str, str]] = []
            for k, (_, fn, _) in _KINDS.items():
                if masks[k][j]:
                    snip, nv, layout = fn(ctx)
                    if k == "aws_access_key_id":
                        nv, sec = nv
                        if sec:
                            f["aws_secret_access_key"] = sec
                    f[k] = nv
                    snippets.append((snip, layout))
            if ccl[j]:
                snip, spdx = _cc_notice(r)
                f["creative_commons"] = 1
                f[f"cc:{spdx}"] = 1
                if snip.startswith("<a "):
                    f["cc_html_fragment"] = 1
                snippets.append((snip, "block"))
            if codel[j]:
                snip, spdx, style, lang = _code_block(r)
                f["code_license"] = 1
                f["code_spdx_line" if style == "spdx_line" else "code_license_notice"] = 1
                f[f"spdx:{spdx}"] = 1
                f[f"lang:{lang}"] = 1
                snippets.append((snip, "block"))
            r.shuffle(snippets)
            texts[j] = _insert(r, texts[j], snippets)
        # 2) duplicates, in document order (a source may itself be an earlier duplicate)
        prev_texts, prev_feats, prev_pool, prev_start = self.prev_texts, self.prev_feats, self.prev_pool, self.prev_start
        lo = max(0, start - len(prev_texts))
        exact = is_exact.tolist()
        for j in np.flatnonzero(~is_orig).tolist():
            g = start + j
            src = lo
            for _attempt in range(8):  # prefer sources long enough to stay recognisable
                src = r.randrange(lo, g)
                st = texts[src - start] if src >= start else prev_texts[src - prev_start]
                if len(st) >= 600:
                    break
            if src >= start:
                src_text, src_feats, src_pool = texts[src - start], feats[src - start], pidx[src - start]
            else:
                k = src - prev_start
                src_text, src_feats, src_pool = prev_texts[k], prev_feats[k], prev_pool[k]
            f = {k: v for k, v in src_feats.items() if not k.startswith(_NOT_INHERITED)}
            if exact[j]:
                texts[j] = src_text
                f["exact_duplicate"] = 1
                self.exact_pairs.append([g, src])
                same = 0.5
            else:
                texts[j], boiler = _near_copy(r, src_text)
                f["near_duplicate"] = 1
                if boiler:
                    f["near_duplicate_boilerplate"] = 1
                self.near_pairs.append([g, src])
                same = 0.3  # most near-copies sit on another domain
            if src_pool >= 0 and quirk[j] < 3 and r.random() < same:
                pidx[j] = src_pool
            feats[j] = f
        # 3) URLs
        urls: list[str] = []
        base, platform, hits = pool.base, pool.platform, self.pool_hits
        for j in range(n):
            f = feats[j]
            q = quirk[j]
            p = pidx[j]
            if q == 3:
                host = _IDN_DOMAINS[r.randrange(len(_IDN_DOMAINS))]
                host = ("www." + host) if r.random() < 0.5 else host
            elif q == 4:
                host = _IPV4_HOSTS[r.randrange(len(_IPV4_HOSTS))]
            else:
                host = base[p]
                hits[p] += 1
                plat = platform[p]
                if plat:
                    self.platforms[plat] = self.platforms.get(plat, 0) + 1
                    f["url_platform_host"] = 1
                else:
                    s = sub_roll[j]
                    # each domain has a main host (www. or bare, by domain) and a few other subdomains
                    if s < 0.12:
                        host = _SUBDOMAINS[(p + int(s * 1000)) % len(_SUBDOMAINS)] + host
                        f["url_subdomain"] = 1
                    elif p % 5 < 3:
                        host = "www." + host
                        f["url_subdomain"] = 1
            if q == 0:
                host = host.upper() if r.random() < 0.5 else ".".join(x.capitalize() for x in host.split("."))
            elif q == 1:
                host = host + r.choice([":8080", ":8000", ":8443"])
            elif q == 2:
                host = host + "."
            if q >= 0:
                f[_QUIRKS[q]] = 1
            if https[j]:
                scheme = "https"
            else:
                scheme = "http"
                f["url_http"] = 1
            slug = "-".join([_SLUG_WORDS[w] for w in slug_ids[j][: slug_len[j]]])
            urls.append(f"{scheme}://{host}{_path(pattern[j], slug, ids[j], max(2005, year[j] - pub_back[j]))}")
        stamps = [s + "Z" for s in stamps_np.tolist()]
        # counts
        for d in feats:
            self.counter.add(d)
            for k in d:
                if ":" in k:
                    if k.startswith("cc:"):
                        self.cc_licenses[k[3:]] = self.cc_licenses.get(k[3:], 0) + 1
                    elif k.startswith("spdx:"):
                        self.code_spdx[k[5:]] = self.code_spdx.get(k[5:], 0) + 1
                    elif k.startswith("lang:"):
                        self.code_lang[k[5:]] = self.code_lang.get(k[5:], 0) + 1
        self.years += np.bincount(year_np - YEAR_MIN, minlength=len(self.years))
        self.prev_texts, self.prev_feats, self.prev_pool, self.prev_start = texts, feats, pidx, start
        return texts, stamps, urls

    def manifest(self, docs: int, shards: int, formats: tuple[str, ...], sink: _Sink) -> dict:
        names = [k for group in FEATURE_GROUPS.values() for k in group]
        c = self.counter
        features = {k: {"docs": c.docs.get(k, 0), "values": c.values.get(k, 0)} for k in names}
        by_regdom: dict[str, int] = {}
        for p, hits in enumerate(self.pool_hits.tolist()):
            if hits:
                d = self.pool.regdom[p]
                by_regdom[d] = by_regdom.get(d, 0) + hits
        top = sorted(by_regdom.items(), key=lambda kv: (-kv[1], kv[0]))[:25]
        b = sink.bounds
        return {
            "generator": "provenance.sample",
            "manifest_version": MANIFEST_VERSION,
            "seed": self.seed,
            "docs": docs,
            "bytes": sink.total_bytes,
            "doc_bytes_target": self.doc_bytes,
            "shards": shards,
            "formats": list(formats),
            "files": [f.name for f in sink.files],
            "shard_docs": [{"shard": i, "first_doc": b[i], "docs": b[i + 1] - b[i]} for i in range(shards)],
            "columns": list(_SCHEMA.names),
            "features": features,
            "feature_groups": FEATURE_GROUPS,
            "near_duplicates": len(self.near_pairs),
            "exact_duplicates": len(self.exact_pairs),
            "cc_licenses": dict(sorted(self.cc_licenses.items())),
            "code_spdx": dict(sorted(self.code_spdx.items())),
            "code_languages": dict(sorted(self.code_lang.items())),
            "platform_hosts": dict(sorted(self.platforms.items())),
            "crawl_years": {str(YEAR_MIN + i): int(n) for i, n in enumerate(self.years.tolist()) if n},
            "registered_domains": {
                "pool_size": len(self.pool.base),
                "distinct": len(by_regdom),
                "zipf_s": 1.1,
                "note": "PSL with its private section (x.github.io, x.blogspot.com are registered domains; "
                        "x.wordpress.com belongs to wordpress.com); IDN and IPv4 hosts not counted",
                "top": [[d, n] for d, n in top],
            },
        }


def _coprime(a: int, m: int) -> int:
    while math.gcd(a, m) != 1:
        a += 1
    return a


def _shard_of(bounds: list[int], pos: int) -> int:
    """The shard holding document ``pos`` (bounds[k] <= pos < bounds[k + 1]; empty shards are skipped)."""
    return bisect.bisect_right(bounds, pos) - 1


_CATEGORIES = ["news", "blog", "recipes", "travel", "sports", "tech", "reviews", "community", "events", "local"]


def _path(kind: int, slug: str, pid: int, pub_year: int) -> str:
    """A URL path; each carries the document's unique slug or id, so no two documents share a URL."""
    if kind <= 1:
        return f"/{pub_year}/{(pid % 12) + 1:02d}/{slug}/"
    if kind == 2:
        return f"/news/article-{pid}.html"
    if kind == 3:
        return f"/blog/{slug}"
    if kind == 4:
        return f"/{_CATEGORIES[pid % len(_CATEGORIES)]}/{slug}.html"
    if kind == 5:
        return f"/p/{pid}"
    if kind == 6:
        return f"/index.php?id={pid}&lang=en"
    return f"/products/{slug}-{pid}"


def _write_json(path: Path, obj: dict, compact_lists: bool = False) -> None:
    if compact_lists:
        data = json.dumps(obj, separators=(",", ":"), sort_keys=True)
    else:
        data = json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False)
    write_text(path, data + "\n")  # an exclusively created temporary file renamed over path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m provenance.sample", description=__doc__.splitlines()[0])
    ap.add_argument("out_dir")
    ap.add_argument("--docs", type=int, default=20000)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--doc-bytes", type=int, default=3500)
    ap.add_argument("--formats", default=",".join(FORMATS), help="comma-separated: " + ", ".join(FORMATS))
    a = ap.parse_args(argv)
    info = generate(a.out_dir, docs=a.docs, shards=a.shards, seed=a.seed, doc_bytes=a.doc_bytes,
                    formats=tuple(x for x in a.formats.split(",") if x))
    print(f"wrote {info.docs} documents ({info.bytes / 1e6:.1f} MB of text) in {len(info.files)} files to {info.out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
