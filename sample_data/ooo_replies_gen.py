"""Case A generator: out-of-office reply detection (``ooo-replies``).

Generative story (see README.md): replies arrive 2026-05-01 .. 2026-09-30; the
language is English until July, then the German/French market arrives. Each
reply is first given a category -- out-of-office (OOO), hard negative,
ambiguous or ordinary -- and then a body is composed from interchangeable,
language-specific parts. OOO bodies carry a RETURN_DATE (most of them) and an
alternative CONTACT (about 60 %); the generator records the exact character
spans while composing and asserts ``body[start:end] == text``.

Deterministic: only ``numpy.random.default_rng(seed)`` is used; every choice
is made from lists in a fixed order.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import unicodedata

import numpy as np
import pandas as pd

SEED = 20260501
N_HISTORY = 3300
N_LATER = 1700
# September's extra replies (the sales team's autumn campaign): drawn after every other reply
# from their own seed, so the history and the first 1,700 later replies stay as they were; they
# give monitoring enough labeled German and French replies to judge production v2 (ML-3)
N_SEPTEMBER_EXTRA = 7200
P_OOO, P_HARD, P_AMBIG = 0.195, 0.12, 0.027

# ---------------------------------------------------------------- utilities


class R:
    """Thin wrapper around a numpy Generator with list-friendly helpers."""

    def __init__(self, seed):
        self.g = np.random.default_rng(seed)

    def pick(self, seq, p=None):
        if p is not None:
            p = np.asarray(p, dtype=float)
            p = p / p.sum()
        return seq[int(self.g.choice(len(seq), p=p))]

    def chance(self, p):
        return bool(self.g.random() < p)

    def int(self, lo, hi):  # inclusive
        return int(self.g.integers(lo, hi + 1))


def ascii_fold(s):
    s = s.replace("ä", "ae").replace("ö", "oe").replace("ü", "ue").replace("ß", "ss")
    s = s.replace("Ä", "Ae").replace("Ö", "Oe").replace("Ü", "Ue")
    return unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode("ascii")


SLOT = re.compile(r"\{(\w+)\}")


def fill(template, **slots):
    """Template -> list of (text, span_type|None) pieces. A slot value is a str
    or a list of pieces (to carry spans through)."""
    out, pos = [], 0
    for m in SLOT.finditer(template):
        if m.start() > pos:
            out.append((template[pos : m.start()], None))
        val = slots[m.group(1)]
        if isinstance(val, str):
            out.append((val, None))
        else:
            out.extend(val)
        pos = m.end()
    if pos < len(template):
        out.append((template[pos:], None))
    return out


def render(pieces):
    body, spans, pos = [], [], 0
    for text, kind in pieces:
        if kind:
            spans.append({"type": kind, "start": pos, "end": pos + len(text), "text": text})
        body.append(text)
        pos += len(text)
    body = "".join(body)
    for s in spans:
        assert body[s["start"] : s["end"]] == s["text"], s
    return body, spans


def plain(pieces):
    return "".join(t for t, _ in pieces)


# ---------------------------------------------------------------- people & companies

FIRST = {
    "en": [
        ("James", "m"),
        ("Emily", "f"),
        ("Michael", "m"),
        ("Sarah", "f"),
        ("David", "m"),
        ("Jessica", "f"),
        ("Daniel", "m"),
        ("Laura", "f"),
        ("Chris", "m"),
        ("Megan", "f"),
        ("Ryan", "m"),
        ("Hannah", "f"),
        ("Kevin", "m"),
        ("Olivia", "f"),
        ("Brian", "m"),
        ("Rachel", "f"),
        ("Tom", "m"),
        ("Priya", "f"),
        ("Raj", "m"),
        ("Aisha", "f"),
        ("Carlos", "m"),
        ("Maria", "f"),
        ("Wei", "m"),
        ("Grace", "f"),
        ("Andrew", "m"),
        ("Natalie", "f"),
        ("Mark", "m"),
        ("Sophie", "f"),
        ("Ethan", "m"),
        ("Chloe", "f"),
        ("Anna", "f"),
        ("Lars", "m"),
        ("Erik", "m"),
        ("Ingrid", "f"),
    ],
    "de": [
        ("Thomas", "m"),
        ("Julia", "f"),
        ("Stefan", "m"),
        ("Katrin", "f"),
        ("Andreas", "m"),
        ("Sabine", "f"),
        ("Markus", "m"),
        ("Anja", "f"),
        ("Jürgen", "m"),
        ("Claudia", "f"),
        ("Tobias", "m"),
        ("Lena", "f"),
        ("Florian", "m"),
        ("Miriam", "f"),
        ("Matthias", "m"),
        ("Jana", "f"),
        ("Sebastian", "m"),
        ("Birgit", "f"),
        ("Lukas", "m"),
        ("Franziska", "f"),
        ("Jörg", "m"),
        ("Nina", "f"),
        ("Uwe", "m"),
        ("Svenja", "f"),
    ],
    "fr": [
        ("Julien", "m"),
        ("Camille", "f"),
        ("Nicolas", "m"),
        ("Élodie", "f"),
        ("Thomas", "m"),
        ("Céline", "f"),
        ("Mathieu", "m"),
        ("Aurélie", "f"),
        ("Antoine", "m"),
        ("Sophie", "f"),
        ("Guillaume", "m"),
        ("Claire", "f"),
        ("Sébastien", "m"),
        ("Manon", "f"),
        ("Pierre", "m"),
        ("Hélène", "f"),
        ("François", "m"),
        ("Amélie", "f"),
        ("Olivier", "m"),
        ("Léa", "f"),
        ("Jérôme", "m"),
        ("Margaux", "f"),
    ],
}
LAST = {
    "en": [
        "Smith",
        "Johnson",
        "Brown",
        "Taylor",
        "Miller",
        "Wilson",
        "Moore",
        "Clark",
        "Walker",
        "Hall",
        "Young",
        "King",
        "Wright",
        "Scott",
        "Green",
        "Baker",
        "Adams",
        "Nelson",
        "Carter",
        "Mitchell",
        "Patel",
        "Chen",
        "Nguyen",
        "Garcia",
        "Murphy",
        "O'Brien",
        "Berg",
        "Lindqvist",
        "Hughes",
        "Foster",
        "Reed",
        "Price",
    ],
    "de": [
        "Müller",
        "Schmidt",
        "Schneider",
        "Fischer",
        "Weber",
        "Meyer",
        "Wagner",
        "Becker",
        "Schulz",
        "Hoffmann",
        "Koch",
        "Richter",
        "Klein",
        "Wolf",
        "Schröder",
        "Neumann",
        "Schwarz",
        "Braun",
        "Zimmermann",
        "Krüger",
        "Hartmann",
        "Lange",
        "Werner",
        "Krause",
        "Lehmann",
        "Köhler",
    ],
    "fr": [
        "Martin",
        "Bernard",
        "Dubois",
        "Thomas",
        "Robert",
        "Richard",
        "Petit",
        "Durand",
        "Leroy",
        "Moreau",
        "Simon",
        "Laurent",
        "Lefèvre",
        "Michel",
        "Garnier",
        "Faure",
        "Rousseau",
        "Blanc",
        "Guérin",
        "Fontaine",
        "Chevalier",
        "Girard",
        "Bonnet",
        "Mercier",
    ],
}
TITLES = {
    "en": [
        "Head of Sales",
        "VP Marketing",
        "Operations Manager",
        "Sales Director",
        "Account Executive",
        "CFO",
        "IT Manager",
        "Procurement Lead",
        "Customer Success Manager",
        "Founder & CEO",
        "RevOps Lead",
        "Director of Engineering",
    ],
    "de": [
        "Leiter Vertrieb",
        "Geschäftsführer",
        "Einkauf",
        "Marketing Managerin",
        "Teamleiter IT",
        "Key Account Manager",
        "Leiterin Finanzen",
        "Vertriebsinnendienst",
    ],
    "fr": [
        "Directeur commercial",
        "Responsable marketing",
        "Chef de projet",
        "Directrice des achats",
        "Responsable IT",
        "Directeur général",
        "Chargée de clientèle",
    ],
}
CO_A = {
    "en": [
        "North",
        "Bright",
        "Blue",
        "Iron",
        "Summit",
        "Clear",
        "Harbor",
        "Cedar",
        "Silver",
        "Maple",
        "Pioneer",
        "Vertex",
        "Atlas",
        "Beacon",
        "Crest",
        "Delta",
        "Falcon",
        "Granite",
        "Horizon",
        "Juniper",
        "Keystone",
        "Lumen",
        "Meridian",
        "Nimbus",
        "Orchid",
        "Pinnacle",
        "Quarry",
        "Redwood",
        "Sterling",
        "Tidal",
    ],
    "de": [
        "Nord",
        "Süd",
        "Alpen",
        "Rhein",
        "Berg",
        "Wald",
        "Stahl",
        "Licht",
        "Funk",
        "Blau",
        "Elb",
        "Isar",
        "Hansa",
        "Stern",
        "Fels",
        "Main",
        "Weser",
        "Brücken",
        "Ostsee",
        "Donau",
    ],
    "fr": [
        "Lumi",
        "Azur",
        "Belle",
        "Clair",
        "Mont",
        "Vert",
        "Océa",
        "Soleil",
        "Rive",
        "Étoile",
        "Loire",
        "Alpi",
        "Sein",
        "Breiz",
        "Garon",
        "Cévenne",
        "Marne",
    ],
}
CO_B = {
    "en": [
        "wave",
        "path",
        "stone",
        "field",
        "bridge",
        "point",
        "works",
        "labs",
        "line",
        "soft",
        "logic",
        "data",
        "cloud",
        "gate",
        "forge",
        "scale",
        "mark",
        "view",
    ],
    "de": [
        "wind",
        "werk",
        "tech",
        "haus",
        "bau",
        "logistik",
        "systeme",
        "feld",
        "data",
        "net",
        "licht",
        "form",
    ],
    "fr": [
        "tech",
        "logic",
        "nova",
        "data",
        "conseil",
        "solutions",
        "services",
        "energie",
        "média",
        "log",
    ],
}
TLD = {
    "en": [".com", ".com", ".com", ".io", ".co.uk", ".co", ".net", ".us"],
    "de": [".de", ".de", ".de", ".com", ".at", ".ch"],
    "fr": [".fr", ".fr", ".fr", ".com", ".be", ".eu"],
}
CO_SUFFIX = {
    "en": ["", "", " Inc.", " Ltd", " Group", " LLC"],
    "de": [" GmbH", " GmbH", " AG", " SE", " KG"],
    "fr": [" SAS", " SA", "", " Groupe"],
}
N_DOMAINS = {"en": 260, "de": 110, "fr": 95}
EMAIL_STYLES = ["first.last", "first.last", "flast", "first", "first_last", "f.last"]
SELLERS = [
    ("Jordan Blake", "jordan.blake@salesbridge.io"),
    ("Maya Lin", "maya@growthloop.co"),
    ("Felix Wagner", "felix.wagner@pipeflow.de"),
    ("Inès Caron", "ines.caron@prospecta.fr"),
    ("Sam Ortiz", "sam.ortiz@closewise.com"),
]


def make_companies(r):
    comps = {}
    for lang in ("en", "de", "fr"):
        combos = [(a, b) for a in CO_A[lang] for b in CO_B[lang]]
        order = r.g.permutation(len(combos))[: N_DOMAINS[lang]]
        lst = []
        for k in order:
            a, b = combos[int(k)]
            name = a + b
            dom = ascii_fold(name).lower()
            if r.chance(0.25):
                dom = ascii_fold(a).lower() + "-" + ascii_fold(b).lower()
            tld = r.pick(TLD[lang])
            cc = {
                "en": r.pick(["1", "44", "1", "61", "46"]),
                "de": r.pick(["49", "49", "43", "41"]),
                "fr": r.pick(["33", "33", "32"]),
            }[lang]
            cc = {
                ".co.uk": "44",
                ".us": "1",
                ".de": "49",
                ".at": "43",
                ".ch": "41",
                ".fr": "33",
                ".be": "32",
            }.get(tld, cc)
            lst.append(
                {
                    "name": name + r.pick(CO_SUFFIX[lang]),
                    "domain": dom + tld,
                    "style": r.pick(EMAIL_STYLES),
                    "lang": lang,
                    "people": [],
                    "cc": cc,
                }
            )
        w = 1.0 / np.arange(1, len(lst) + 1) ** 0.8
        comps[lang] = (lst, w / w.sum())
    return comps


def email_of(person, comp):
    first, last = (
        ascii_fold(person["first"]).lower(),
        ascii_fold(person["last"]).lower().replace("'", ""),
    )
    local = {
        "first.last": f"{first}.{last}",
        "flast": f"{first[0]}{last}",
        "first": first,
        "first_last": f"{first}_{last}",
        "f.last": f"{first[0]}.{last}",
    }[comp["style"]]
    return f"{local}@{comp['domain']}"


def phone_of(r, comp):
    cc = comp["cc"]

    def d(n):
        return "".join(str(r.int(0, 9)) for _ in range(n))

    if cc == "1":
        return r.pick(
            [
                f"+1 {r.int(201, 989)} 555 {d(4)}",
                f"({r.int(201, 989)}) 555-{d(4)}",
                f"+1-{r.int(201, 989)}-555-{d(4)}",
            ]
        )
    if cc == "44":
        return r.pick([f"+44 20 7946 {d(4)}", f"+44 (0)161 496 {d(4)}", f"07700 900{d(3)}"])
    if cc == "49":
        return r.pick(
            [
                f"+49 {r.int(30, 89)} {d(4)} {d(3)}",
                f"+49 (0){r.int(30, 89)} {d(5)}-{d(2)}",
                f"0{r.int(151, 179)} {d(7)}",
            ]
        )
    if cc == "33":
        return r.pick(
            [
                f"+33 1 {d(2)} {d(2)} {d(2)} {d(2)}",
                f"0{r.int(1, 7)} {d(2)} {d(2)} {d(2)} {d(2)}",
                f"+33 (0)6 {d(2)} {d(2)} {d(2)} {d(2)}",
            ]
        )
    return f"+{cc} {r.int(1, 9)} {d(3)} {d(4)}"


def new_person(r, lang):
    first, g = r.pick(FIRST[lang])
    return {"first": first, "last": r.pick(LAST[lang]), "g": g, "title": r.pick(TITLES[lang])}


def person_in(r, comp):
    cap = 1 + min(14, len(comp["people"]) // 2 + 2)
    if comp["people"] and (len(comp["people"]) >= cap or r.chance(0.55)):
        return r.pick(comp["people"])
    p = new_person(r, comp["lang"])
    p["email"] = email_of(p, comp)
    comp["people"].append(p)
    return p


# ---------------------------------------------------------------- dates

MON = {
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
    "de": [
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ],
    "fr": [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ],
}
WD = {
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    "de": ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"],
    "fr": ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"],
}


def ordinal(n):
    suf = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suf}"


def fmt_date(r, d, lang):
    """A full (resolvable) date expression in one of many formats."""
    m, day, wd = d.month, d.day, d.weekday()
    if lang == "en":
        opts = [
            f"{MON['en'][m - 1]} {day}",
            f"{MON['en'][m - 1]} {ordinal(day)}",
            f"{day} {MON['en'][m - 1]} 2026",
            f"{day} {MON['en'][m - 1]}",
            f"{m:02d}/{day:02d}",
            f"{m}/{day}/2026",
            f"{WD['en'][wd]}, {MON['en'][m - 1]} {ordinal(day)}",
            f"{WD['en'][wd]} {day} {MON['en'][m - 1]}",
            f"the {ordinal(day)} of {MON['en'][m - 1]}",
            f"{day:02d}.{m:02d}.2026",
            f"2026-{m:02d}-{day:02d}",
            f"{WD['en'][wd][:3]} {MON['en'][m - 1][:3]} {day}",
        ]
        p = [12, 7, 9, 6, 5, 4, 8, 4, 5, 2, 1, 2]
    elif lang == "de":
        opts = [
            f"{day:02d}.{m:02d}.",
            f"{day:02d}.{m:02d}.2026",
            f"{day}. {MON['de'][m - 1]}",
            f"{day}. {MON['de'][m - 1]} 2026",
            f"{WD['de'][wd]}, {day}. {MON['de'][m - 1]}",
            f"{WD['de'][wd]}, den {day:02d}.{m:02d}.2026",
            f"{day}.{m}.",
            f"{WD['de'][wd]}, {day:02d}.{m:02d}.",
        ]
        p = [12, 10, 9, 5, 5, 3, 3, 4]
    else:
        dd = "1er" if day == 1 else str(day)
        opts = [
            f"{dd} {MON['fr'][m - 1]}",
            f"{dd} {MON['fr'][m - 1]} 2026",
            f"{WD['fr'][wd]} {dd} {MON['fr'][m - 1]}",
            f"{day:02d}/{m:02d}",
            f"{day:02d}/{m:02d}/2026",
            f"{WD['fr'][wd]} {day:02d}/{m:02d}",
        ]
        p = [12, 6, 7, 5, 6, 2]
    return r.pick(opts, p)


def return_day(r, d0):
    k = r.pick(
        list(range(1, 29)),
        [3, 5, 6, 7, 8, 8, 9, 8, 7, 6, 6, 7, 6, 4, 3, 3, 3, 2, 2, 3, 2, 1, 1, 1, 1, 1, 1, 2],
    )
    d = d0 + dt.timedelta(days=k)
    if d.weekday() >= 5 and r.chance(0.85):
        d += dt.timedelta(days=7 - d.weekday())
    return d


# ---------------------------------------------------------------- text resources

SUBJECTS = {
    "en": [
        "Quick question, {first}",
        "Idea for {company}'s sales team",
        "Following up",
        "Worth a chat?",
        "Your Q3 pipeline",
        "15 minutes next week?",
        "Re-engaging stalled deals at {company}",
        "Case study: how Brightwave cut churn by 18%",
        "Cutting onboarding time at {company}",
        "{first}, one more thing",
        "Last note from me",
        "Forecast accuracy at {company}",
    ],
    "de": [
        "Kurze Frage, {first}",
        "Idee für den Vertrieb von {company}",
        "Kurzes Gespräch nächste Woche?",
        "Nachfrage zu meiner letzten E-Mail",
        "Fallstudie: 18 % weniger Kündigungen",
        "Ihre Pipeline im Q3",
        "{first}, noch eine Sache",
    ],
    "fr": [
        "Petite question, {first}",
        "Une idée pour l'équipe commerciale de {company}",
        "15 minutes la semaine prochaine ?",
        "Suite à mon précédent message",
        "Étude de cas : -18 % de résiliation",
        "Votre pipeline du T3",
        "{first}, une dernière chose",
    ],
}
OOO_PREFIX = {
    "en": (
        [
            "Automatic reply: ",
            "Out of Office: ",
            "Out of office: ",
            "Auto-Reply: ",
            "Autoreply: ",
            "[Auto-Reply] ",
            "Away: ",
            "OOO: ",
            "Automatic Reply: ",
            "Out of Office AutoReply: ",
        ],
        [22, 20, 8, 8, 5, 4, 3, 3, 4, 4],
    ),
    "de": (
        [
            "Abwesenheitsnotiz: ",
            "Automatische Antwort: ",
            "Abwesend: ",
            "Out of Office: ",
            "Automatische Antwort: AW: ",
        ],
        [30, 25, 8, 6, 4],
    ),
    "fr": (
        [
            "Réponse automatique : ",
            "Absent du bureau : ",
            "Absence : ",
            "Réponse automatique: ",
            "Out of Office: ",
        ],
        [30, 15, 8, 6, 5],
    ),
}
RE_PREFIX = {
    "en": (["Re: ", "RE: ", "re: "], [10, 5, 1]),
    "de": (["AW: ", "Re: ", "WG: "], [10, 6, 1]),
    "fr": (["RE : ", "Re: ", "RE: "], [8, 6, 3]),
}

OOO = {
    "en": {
        "greet": (
            [
                "",
                "Hello,",
                "Hi,",
                "Hi there,",
                "Dear Sender,",
                "Good day,",
                "Hello and thank you for your message.",
            ],
            [30, 15, 10, 4, 6, 3, 5],
        ),
        "thanks": (
            [
                "",
                "Thank you for your email.",
                "Thanks for your message.",
                "Thank you for reaching out.",
                "This is an automated response.",
            ],
            [30, 25, 12, 6, 6],
        ),
        "ret": [
            "I am out of the office until {date} with limited access to email.",
            "I am currently out of the office and will return on {date}.",
            "I'm on vacation and will be back in the office on {date}.",
            "I am on annual leave, returning {date}.",
            "I am away from the office until {date}.",
            "I am attending a conference and will be back on {date}.",
            "I'm out on parental leave until {date}.",
            "I am travelling on business until {date} and have limited access to email.",
            "Please note that I am out of the office and will be back on {date}.",
            "I will be out of the office starting {start} and returning on {date}.",
            "I am currently on holiday and will return to the office on {date}.",
            "I'm out of the office and back on {date}.",
            "I am out of the office from {start} until {date}.",
            "I'm OOO until {date}.",
        ],
        "nodate": [
            "I am currently out of the office with limited access to email.",
            "I am on parental leave and not monitoring my inbox.",
            "I'm travelling at the moment and will respond when I return.",
            "I am away from my desk and will reply as soon as I can.",
            "I am currently on leave.",
            "I'm out of the office this week.",
        ],
        "action": (
            [
                "",
                "I will respond to your message as soon as possible upon my return.",
                "Your email will not be forwarded.",
                "I'll reply when I'm back.",
                "Emails will be read on my return.",
                "I'll get back to you as soon as I can.",
                "Happy to connect when I'm back.",
                "Please follow up after that.",
                "Please resend your message after that.",
            ],
            [30, 20, 8, 8, 5, 8, 7, 7, 5],
        ),
        "contact": [
            "For urgent matters, please contact {cname} ({contact}).",
            "If your matter is urgent, please reach out to my colleague {cname} at {contact}.",
            "In my absence, {cname} is covering for me and can be reached at {contact}.",
            "For anything time-sensitive, {cname} ({contact}) will be happy to help.",
            "For immediate assistance please contact {cname}: {contact}.",
            "If you need help before then, please email {email}.",
            "Urgent requests can go to {cname} on {phone}.",
        ],
        "sign": [
            "Best regards,\n{full}",
            "Kind regards,\n{full}",
            "Thanks,\n{first}",
            "Regards,\n{full}\n{title} | {company}",
            "Best,\n{first}",
            "{full}\n{title}\n{company}\n{phone}",
            "Warm regards,\n{full}",
        ],
    },
    "de": {
        "greet": (
            [
                "",
                "Guten Tag,",
                "Hallo,",
                "Sehr geehrte Damen und Herren,",
                "Liebe Absenderin, lieber Absender,",
            ],
            [25, 15, 10, 15, 3],
        ),
        "thanks": (
            [
                "",
                "Vielen Dank für Ihre Nachricht.",
                "Danke für Ihre E-Mail.",
                "Herzlichen Dank für Ihre Mail.",
                "Dies ist eine automatische Antwort.",
            ],
            [25, 25, 10, 5, 5],
        ),
        "ret": [
            "Ich bin bis zum {date} nicht im Büro.",
            "Ich bin bis {date} im Urlaub und habe keinen Zugriff auf meine E-Mails.",
            "Ich befinde mich derzeit im Urlaub und bin ab dem {date} wieder im Büro.",
            "Ich bin auf Dienstreise und ab {date} wieder erreichbar.",
            "Aufgrund von Elternzeit bin ich bis zum {date} abwesend.",
            "Ich bin derzeit außer Haus und ab dem {date} wieder für Sie da.",
            "Ich nehme an einer Messe teil und bin am {date} wieder im Büro.",
            "Ich bin ab dem {start} abwesend und am {date} zurück.",
            "Ich bin bis {date} nicht erreichbar.",
            "Vom {start} bis zum {date} bin ich nicht im Büro.",
        ],
        "nodate": [
            "Ich bin derzeit nicht im Büro und habe nur eingeschränkt Zugriff auf meine E-Mails.",
            "Ich befinde mich in Elternzeit.",
            "Ich bin zurzeit abwesend und beantworte Ihre Nachricht nach meiner Rückkehr.",
            "Ich bin momentan auf Geschäftsreise.",
        ],
        "action": (
            [
                "",
                "Ihre E-Mail wird nicht weitergeleitet.",
                "Ich werde Ihre Nachricht nach meiner Rückkehr beantworten.",
                "Ich melde mich nach meiner Rückkehr bei Ihnen.",
                "E-Mails werden in dieser Zeit nicht gelesen.",
                "Melden Sie sich danach gern noch einmal.",
                "Gerne spreche ich danach mit Ihnen.",
            ],
            [30, 12, 12, 10, 5, 8, 6],
        ),
        "contact": [
            "In dringenden Fällen wenden Sie sich bitte an {cname} ({contact}).",
            "Bei dringenden Anliegen erreichen Sie {colleague} {cname} unter {contact}.",
            "Meine Vertretung übernimmt {cname}, erreichbar unter {contact}.",
            "Bitte wenden Sie sich in dringenden Fällen an {email}.",
            "Für dringende Angelegenheiten steht Ihnen {cname} ({contact}) gerne zur Verfügung.",
            "Sie erreichen {colleague} {cname} telefonisch unter {phone}.",
        ],
        "sign": [
            "Mit freundlichen Grüßen\n{full}",
            "Viele Grüße\n{first}",
            "Beste Grüße\n{full}",
            "Freundliche Grüße\n{full}\n{title}\n{company}",
            "MfG\n{full}",
            "Mit freundlichen Grüßen\n\n{full}\n{title} | {company}\nTel. {phone}",
        ],
    },
    "fr": {
        "greet": (["", "Bonjour,", "Madame, Monsieur,", "Bonjour à tous,"], [25, 25, 10, 3]),
        "thanks": (
            [
                "",
                "Merci pour votre message.",
                "Je vous remercie pour votre e-mail.",
                "Merci de votre mail.",
                "Ceci est une réponse automatique.",
            ],
            [25, 20, 10, 5, 5],
        ),
        "ret": [
            "Je suis {absent} du bureau jusqu'au {date}.",
            "Je suis actuellement en congés et serai de retour le {date}.",
            "Je suis en déplacement avec un accès limité à mes e-mails jusqu'au {date}.",
            "Je serai de retour au bureau à partir du {date}.",
            "Je suis en congé parental jusqu'au {date}.",
            "Je suis {absent} et reviendrai le {date}.",
            "Je participe à un salon et serai de retour le {date}.",
            "Je suis en vacances du {start} au {date}.",
            "Je suis {absent} jusqu'au {date} inclus, avec un accès limité à ma messagerie.",
        ],
        "nodate": [
            "Je suis actuellement {absent} avec un accès limité à mes e-mails.",
            "Je suis en congé et ne consulte pas ma messagerie.",
            "Je suis en déplacement et vous répondrai dès mon retour.",
        ],
        "action": (
            [
                "",
                "Votre message ne sera pas transféré.",
                "Je traiterai votre message à mon retour.",
                "Je vous répondrai dès mon retour.",
                "Je prendrai connaissance de votre message à mon retour.",
                "Recontactez-moi après cette date.",
                "Nous pourrons en reparler à mon retour.",
            ],
            [30, 10, 12, 12, 6, 8, 6],
        ),
        "contact": [
            "En cas d'urgence, merci de contacter {cname} ({contact}).",
            "Pour toute demande urgente, vous pouvez joindre {colleague} {cname} au {phone} ou par e-mail à {email}.",
            "Pour toute question urgente, veuillez écrire à {email}.",
            "En mon absence, {cname} ({contact}) se tient à votre disposition.",
            "Pour les sujets urgents, merci de vous adresser à {cname} : {contact}.",
        ],
        "sign": [
            "Cordialement,\n{full}",
            "Bien à vous,\n{first}",
            "Bien cordialement,\n{full}\n{title}\n{company}",
            "Belle journée,\n{first}",
            "Cordialement,\n\n{full}\n{title} – {company}\nTél. : {phone}",
        ],
    },
}
# NB: "jusqu'au 12 août inclus" would make the return the 13th; the template above says
# "inclus" -- for that template the generator names the day *before* the return date.

HUMAN_SIGN = {
    "en": [
        "{first}",
        "Best,\n{first}",
        "Thanks,\n{full}",
        "Cheers,\n{first}",
        "Regards,\n{full}\n{title}, {company}",
        "Best regards,\n{full}\n{title} | {company}\n{phone}",
        "Sent from my iPhone",
        "-- \n{full}",
    ],
    "de": [
        "{first}",
        "Viele Grüße\n{first}",
        "Beste Grüße\n{full}",
        "Mit freundlichen Grüßen\n{full}\n{title}\n{company}",
        "VG {first}",
        "Von meinem iPhone gesendet",
    ],
    "fr": [
        "{first}",
        "Cordialement,\n{full}",
        "Bien à vous,\n{first}",
        "Bonne journée,\n{full}\n{title}, {company}",
        "Envoyé de mon iPhone",
    ],
}
HUMAN_GREET = {
    "en": ["", "Hi {seller},", "Hello {seller},", "Hi,", "{seller} -"],
    "de": ["", "Hallo {seller},", "Guten Tag {seller_full},", "Hallo,"],
    "fr": ["", "Bonjour {seller},", "Bonjour,"],
}
INTENT = {
    "en": {
        "interested": [
            "Thanks for reaching out.",
            "This sounds interesting.",
            "Could you send over some pricing information?",
            "Happy to chat - does Thursday at 2pm work for you?",
            "Yes, let's set up a call next week.",
            "We've been looking at tools like this, so the timing is good.",
            "Can you share a case study from a company our size?",
            "Please send a calendar invite for Tuesday morning.",
            "I'd like to see a demo.",
        ],
        "not_interested": [
            "Thanks, but we're not interested at this time.",
            "We already use a similar solution and are happy with it.",
            "No budget for this until next year.",
            "Not a priority for us right now.",
            "Please don't follow up on this.",
            "We just signed a three-year contract with a competitor.",
        ],
        "unsubscribe": [
            "Unsubscribe.",
            "Please remove me from your mailing list.",
            "Stop emailing me.",
            "Take me off this list, please.",
            "Remove.",
        ],
        "question": [
            "Do you integrate with Salesforce?",
            "How does pricing work for a team of 20?",
            "Is the data hosted in the EU?",
            "What does onboarding typically look like?",
            "Do you offer a free trial?",
            "Who else in our industry uses this?",
            "Is there an API?",
        ],
        "referral": [
            "I'm not the right person for this.",
            "Please reach out to my colleague {rname} ({remail}), who handles this.",
            "{rname} runs our sales operations - you can reach them at {remail}.",
            "I've copied {rname} ({remail}) who owns this area.",
            "Try {rname} at {remail} instead.",
        ],
        "timing": [
            "Can you reach out again in Q4?",
            "Let's revisit this after our budget cycle in October.",
            "Ping me again in a couple of months.",
            "We're mid-migration, so the timing isn't great.",
        ],
    },
    "de": {
        "interested": [
            "Danke für Ihre Nachricht.",
            "Das klingt interessant.",
            "Können Sie mir Preisinformationen schicken?",
            "Gerne - passt Ihnen Donnerstag um 14 Uhr?",
            "Lassen Sie uns nächste Woche telefonieren.",
            "Wir schauen uns gerade solche Lösungen an.",
            "Haben Sie eine Fallstudie aus unserer Branche?",
            "Schicken Sie mir gern eine Einladung für Dienstag.",
        ],
        "not_interested": [
            "Danke, aber wir haben derzeit keinen Bedarf.",
            "Wir nutzen bereits eine ähnliche Lösung.",
            "Dafür haben wir dieses Jahr kein Budget.",
            "Bitte sehen Sie von weiteren Nachfragen ab.",
            "Kein Interesse, danke.",
        ],
        "unsubscribe": [
            "Bitte nehmen Sie mich aus Ihrem Verteiler.",
            "Abmelden.",
            "Bitte schreiben Sie mir nicht mehr.",
            "Bitte löschen Sie meine Daten.",
        ],
        "question": [
            "Gibt es eine Integration mit SAP?",
            "Wo werden die Daten gehostet?",
            "Was kostet das für 20 Nutzer?",
            "Gibt es eine kostenlose Testphase?",
            "Ist die Lösung DSGVO-konform?",
        ],
        "referral": [
            "Dafür bin ich nicht zuständig.",
            "Bitte wenden Sie sich an meine Kollegin {rname} ({remail}).",
            "{rname} verantwortet das Thema bei uns - {remail}.",
            "Ich habe {rname} ({remail}) in Kopie gesetzt.",
        ],
        "timing": [
            "Melden Sie sich gern im vierten Quartal noch einmal.",
            "Nach unserer Budgetplanung im Oktober gern wieder.",
            "Aktuell passt es zeitlich nicht.",
        ],
    },
    "fr": {
        "interested": [
            "Merci pour votre message.",
            "Cela m'intéresse.",
            "Pourriez-vous m'envoyer une grille tarifaire ?",
            "Volontiers - jeudi à 14h vous convient ?",
            "Organisons un appel la semaine prochaine.",
            "Nous étudions justement ce type de solution.",
            "Avez-vous un cas client dans notre secteur ?",
            "Envoyez-moi une invitation pour mardi matin.",
        ],
        "not_interested": [
            "Merci, mais ce n'est pas une priorité pour nous.",
            "Nous utilisons déjà une solution similaire.",
            "Pas de budget cette année.",
            "Merci de ne plus me relancer.",
            "Pas intéressé, merci.",
        ],
        "unsubscribe": [
            "Merci de me retirer de votre liste.",
            "Désinscription.",
            "Ne m'écrivez plus, s'il vous plaît.",
            "Veuillez supprimer mes coordonnées.",
        ],
        "question": [
            "Avez-vous une intégration avec Salesforce ?",
            "Où sont hébergées les données ?",
            "Quel est le tarif pour 20 utilisateurs ?",
            "Proposez-vous un essai gratuit ?",
            "Êtes-vous conformes au RGPD ?",
        ],
        "referral": [
            "Je ne suis pas la bonne personne.",
            "Merci de contacter mon collègue {rname} ({remail}).",
            "C'est {rname} qui gère ce sujet : {remail}.",
            "Je mets {rname} ({remail}) en copie.",
        ],
        "timing": [
            "Recontactez-moi au quatrième trimestre.",
            "Revenons-en après notre budget en octobre.",
            "Le moment n'est pas idéal.",
        ],
    },
}
QUOTE_HDR = {
    "en": "On {wd}, {mon} {d}, 2026 at {hh}:{mm}, {seller_full} <{seller_email}> wrote:",
    "de": "Am {d}.{m}.2026 um {hh}:{mm} schrieb {seller_full} <{seller_email}>:",
    "fr": "Le {wd} {d} {mon} 2026 à {hh}:{mm}, {seller_full} <{seller_email}> a écrit :",
}

# hard negatives: human replies mentioning absence (with dates that are NOT return dates of an auto-reply)
HN_VAC = {
    "en": [
        "I'm out of the office next week, so let's pick this up after {date}.",
        "I'm heading on vacation on {date} - could we squeeze in a call before then?",
        "I was on holiday until {date}, hence the slow reply.",
        "I'll be out of the office from {date} for two weeks, so send me the details and I'll review them when I'm back.",
        "Happy to talk, but I'm away most of next week. How about {date}?",
        "I'm on vacation in August, please reach out again in September.",
        "Our whole team is out for the holidays until {date}, but I can take a quick call today.",
    ],
    "de": [
        "Ich bin nächste Woche im Urlaub, lassen Sie uns danach sprechen - vielleicht am {date}?",
        "Ich war bis {date} im Urlaub, daher die späte Antwort.",
        "Ab {date} bin ich zwei Wochen nicht im Büro, schicken Sie mir die Unterlagen gern vorher.",
        "Im August ist bei uns Betriebsurlaub, melden Sie sich bitte im September wieder.",
        "Ich bin ab {date} auf Dienstreise, können wir vorher kurz telefonieren?",
    ],
    "fr": [
        "Je suis en congés la semaine prochaine, reparlons-en après le {date}.",
        "J'étais en vacances jusqu'au {date}, d'où ma réponse tardive.",
        "Je pars en vacances le {date}, pouvons-nous échanger avant ?",
        "Nous sommes fermés en août, recontactez-moi en septembre.",
        "Je serai absent à partir du {date}, envoyez-moi les détails d'ici là.",
    ],
}
# human replies written while away (they engage, so the sequence should NOT pause)
HN_AWAY = {
    "en": [
        "I'm out of the office until {date} with limited access to email, but wanted to get back to you quickly.",
        "I'm on vacation until {date}, but this is timely.",
        "I am travelling until {date}, so just a short note from my phone.",
        "Technically I'm on leave until {date}, but I saw your email.",
        "I'm away until {date} - quick answer in the meantime.",
    ],
    "de": [
        "Ich bin bis {date} im Urlaub, wollte Ihnen aber kurz antworten.",
        "Ich bin eigentlich bis zum {date} nicht im Büro, aber kurz dazu:",
        "Ich bin bis {date} auf Dienstreise, daher nur kurz vom Handy.",
    ],
    "fr": [
        "Je suis en congés jusqu'au {date}, mais je voulais vous répondre rapidement.",
        "Je suis en déplacement jusqu'au {date}, donc juste un mot rapide.",
        "Je suis absent jusqu'au {date}, mais votre message a retenu mon attention.",
    ],
}
# short human follow-ups after an absence sentence; some of them also occur in auto-replies
SOFT = {  # a human's short follow-up; the same lines also occur in auto-replies
    "en": [
        "Happy to connect when I'm back.",
        "Please follow up after that.",
        "Please resend your message after that.",
        "I'll get back to you as soon as I can.",
    ],
    "de": [
        "Melden Sie sich danach gern noch einmal.",
        "Gerne spreche ich danach mit Ihnen.",
        "Ich melde mich nach meiner Rückkehr bei Ihnen.",
    ],
    "fr": [
        "Recontactez-moi après cette date.",
        "Nous pourrons en reparler à mon retour.",
        "Je vous répondrai dès mon retour.",
    ],
}
# automatic replies that are not absences (inbox hours, part-time, address change)
HN_AUTO = {
    "en": [
        "Thank you for your email. I check my inbox at 10am and 3pm daily and will respond then. For urgent matters please call {phone}.",
        "Thanks for your message. I work part-time (Monday to Wednesday), so replies may take a little longer.",
        "Thank you for contacting me. Please note that my email address will change to {email} on {date}.",
        "This is an automated reply: your message has been received and I will respond within 48 hours.",
    ],
    "de": [
        "Vielen Dank für Ihre Nachricht. Ich arbeite in Teilzeit (Mo-Mi) und antworte daher ggf. verzögert.",
        "Vielen Dank für Ihre E-Mail. Ich lese meine Nachrichten zweimal täglich (10 und 15 Uhr). In dringenden Fällen erreichen Sie mich unter {phone}.",
        "Bitte beachten Sie, dass sich meine E-Mail-Adresse ab dem {date} ändert: {email}.",
    ],
    "fr": [
        "Merci pour votre message. Je travaille à temps partiel (du lundi au mercredi) ; ma réponse peut prendre un peu plus de temps.",
        "Merci pour votre e-mail. Je consulte ma messagerie deux fois par jour et vous répondrai dans les meilleurs délais. En cas d'urgence : {phone}.",
        "Attention : à partir du {date}, ma nouvelle adresse est {email}.",
    ],
}
HN_BACK = {
    "en": [
        "Sorry for the slow reply, I just got back from vacation.",
        "I'm back in the office now and catching up on email.",
        "Apologies for the delay - I was out of the office last week.",
        "Back from holiday and working through my inbox.",
    ],
    "de": [
        "Entschuldigen Sie die späte Antwort, ich bin gerade aus dem Urlaub zurück.",
        "Ich bin wieder im Büro und arbeite meine E-Mails ab.",
    ],
    "fr": [
        "Désolé pour le retard, je rentre tout juste de vacances.",
        "Je suis de retour au bureau et je rattrape mes e-mails.",
    ],
}
MEETING = {
    "en": [
        "Intro call",
        "Loopline demo",
        "Discovery call",
        "Follow-up call",
        "Pricing walkthrough",
    ],
    "de": ["Kennenlerngespräch", "Produktdemo", "Abstimmung"],
    "fr": ["Appel découverte", "Démo produit", "Point de suivi"],
}
CAL = {
    "en": {
        "Declined": [
            "{full} has declined this invitation.",
            "Sorry, I'm on holiday that week. Could we try {date} instead?",
            "I'm travelling that day, please suggest another time.",
            "Declined - I'm out of the office that day.",
        ],
        "Accepted": ["{full} has accepted this invitation.", "See you then."],
        "Tentative": [
            "{full} has tentatively accepted this invitation.",
            "Might be out that day, will confirm.",
        ],
        "Updated invitation": [
            "This event has been updated.\nWhen: {when}\nWhere: Microsoft Teams meeting\n\nJoin on your computer or mobile app."
        ],
    },
    "de": {
        "Abgelehnt": [
            "{full} hat diese Einladung abgelehnt.",
            "Da bin ich leider im Urlaub. Geht auch der {date}?",
        ],
        "Angenommen": ["{full} hat diese Einladung angenommen."],
        "Mit Vorbehalt angenommen": ["{full} hat diese Einladung mit Vorbehalt angenommen."],
        "Aktualisierte Einladung": [
            "Dieser Termin wurde aktualisiert.\nWann: {when}\nOrt: Microsoft Teams-Besprechung"
        ],
    },
    "fr": {
        "Refusé": [
            "{full} a refusé cette invitation.",
            "Je serai en congés ce jour-là. Le {date} vous irait ?",
        ],
        "Accepté": ["{full} a accepté cette invitation."],
        "Provisoire": ["{full} a accepté provisoirement cette invitation."],
        "Invitation mise à jour": [
            "Cet événement a été mis à jour.\nQuand : {when}\nOù : réunion Microsoft Teams"
        ],
    },
}
BOUNCE = {
    "en": [
        (
            "Undeliverable: {orig}",
            "Delivery has failed to these recipients or groups:\n\n{addr}\nThe email address you entered couldn't be found. Please check the recipient's email address and try to resend the message.\n\nDiagnostic information for administrators:\nGenerating server: {mx}\nRemote Server returned '550 5.1.1 RESOLVER.ADR.RecipNotFound; not found'",
        ),
        (
            "Mail delivery failed: returning message to sender",
            "This message was created automatically by mail delivery software.\n\nA message that you sent could not be delivered to one or more of its recipients. This is a permanent error. The following address(es) failed:\n\n  {addr}\n    mailbox is full: retry timeout exceeded",
        ),
        (
            "Delivery Status Notification (Failure)",
            "Address not found\n\nYour message wasn't delivered to {addr} because the address couldn't be found, or is unable to receive mail.",
        ),
        (
            "Returned mail: see transcript for details",
            "The original message was received at {when}\n\n   ----- The following addresses had permanent fatal errors -----\n<{addr}>\n    (reason: 550 User unknown)",
        ),
    ],
    "de": [
        (
            "Unzustellbar: {orig}",
            "Die Zustellung an folgende Empfänger oder Gruppen ist fehlgeschlagen:\n\n{addr}\nDie eingegebene E-Mail-Adresse wurde nicht gefunden. Überprüfen Sie die E-Mail-Adresse des Empfängers, und versuchen Sie, die Nachricht erneut zu senden.\n\nDiagnoseinformationen für Administratoren:\nGenerierender Server: {mx}",
        ),
        (
            "Mail delivery failed: returning message to sender",
            "Diese Nachricht wurde automatisch vom Mailsystem erstellt.\n\nIhre Nachricht konnte nicht zugestellt werden:\n\n  {addr}\n    Postfach voll",
        ),
    ],
    "fr": [
        (
            "Non remis : {orig}",
            "La remise aux destinataires ou groupes suivants a échoué :\n\n{addr}\nL'adresse e-mail que vous avez entrée est introuvable. Vérifiez l'adresse e-mail du destinataire, puis essayez de renvoyer le message.\n\nInformations de diagnostic pour les administrateurs :\nServeur de génération : {mx}",
        ),
        (
            "Échec de la remise du message",
            "Votre message n'a pas pu être remis à {addr} : boîte aux lettres pleine.",
        ),
    ],
}
TICKET = {
    "en": [
        (
            "[#{n}] We received your request",
            "Hello,\n\nThank you for contacting {company} Support. We have received your request and a member of our team will get back to you within 1 business day.\n\nYour ticket number is #{n}. Please do not reply to this automated message.",
        ),
        (
            "Re: {orig} [Ticket #{n}]",
            "This is an automated confirmation that we received your message. Ticket #{n} has been created.\nOur support hours are Monday to Friday, 9am-5pm.\n\n{company} Customer Care",
        ),
    ],
    "de": [
        (
            "[#{n}] Wir haben Ihre Anfrage erhalten",
            "Guten Tag,\n\nvielen Dank für Ihre Anfrage. Wir haben sie unter der Ticketnummer #{n} erfasst und melden uns innerhalb von zwei Werktagen.\n\nDies ist eine automatisch erzeugte Nachricht.\n\nIhr {company} Service-Team",
        )
    ],
    "fr": [
        (
            "[#{n}] Nous avons bien reçu votre demande",
            "Bonjour,\n\nNous avons bien reçu votre demande, enregistrée sous le numéro #{n}. Notre équipe vous répondra sous 48 heures ouvrées.\n\nCeci est un message automatique, merci de ne pas y répondre.\n\nL'équipe {company}",
        )
    ],
}
LEFT = {
    "en": [
        "{full} is no longer with {company}. Please direct your inquiry to {cname} at {email}.",
        "Thank you for your email. {full} has left {company}; for sales matters please contact {email}.",
    ],
    "de": [
        "{full} ist nicht mehr bei {company} tätig. Bitte wenden Sie sich an {cname} ({email})."
    ],
    "fr": ["{full} ne fait plus partie de {company}. Merci de contacter {cname} ({email})."],
}
# ambiguous, terse replies: (template, date kind)
AMBIG = {
    "en": [
        ("Away until {date}, will reply then.", "any"),
        ("Out till {date}. Will get back to you after.", "any"),
        ("Travelling, back {date}.", "any"),
        ("Off until {date} - will respond then.", "any"),
        ("Away from email until {date}.", "any"),
        ("OOO till {date}", "any"),
    ],
    "de": [
        ("Bin bis {date} unterwegs, melde mich danach.", "any"),
        ("Bis {date} nicht erreichbar.", "any"),
        ("Unterwegs bis {date}, antworte dann.", "any"),
    ],
    "fr": [
        ("Absent jusqu'au {date}, je réponds à mon retour.", "num"),
        ("En déplacement jusqu'à {date}.", "wd"),
        ("Absent jusqu'à {date}, je reviens vers vous.", "wd"),
    ],
}


# ---------------------------------------------------------------- composers


def join_blocks(r, blocks, last_is_sig=False):
    """blocks: list of piece-lists (each a paragraph/sentence). Vary whitespace."""
    out = []
    style = r.pick(["para", "lines", "flow"], [5, 3, 2])
    for i, b in enumerate(blocks):
        if i:
            if style == "para":
                sep = r.pick(["\n\n", "\n\n", "\n", "\n\n\n"])
            elif style == "lines":
                sep = "\n"
            else:
                sep = r.pick([" ", " ", "  ", "\n"])
            if r.chance(0.05):
                sep = " " + sep
            if last_is_sig and i == len(blocks) - 1 and "\n" not in sep:
                sep = r.pick(["\n", "\n\n"])
            out.append((sep, None))
        out.extend(b)
    if r.chance(0.08):
        out.append((r.pick(["\n", " ", "\n\n"]), None))
    return out


def sig_block(r, tmpl, who, comp, phone):
    return [
        (
            tmpl.format(
                first=who["first"],
                full=f"{who['first']} {who['last']}",
                title=who["title"],
                company=comp["name"],
                phone=phone,
            ),
            None,
        )
    ]


def contact_pieces(r, lang, comp):
    """Alternative contact: name + email and/or phone. Returns dict of slot pieces."""
    cp = new_person(r, lang)
    mail = (
        email_of(cp, comp)
        if r.chance(0.85)
        else r.pick(
            ["sales", "info", "support", "team", "office", "kontakt" if lang == "de" else "contact"]
        )
        + "@"
        + comp["domain"]
    )
    phone = phone_of(r, comp)
    mode = r.pick(["email", "email+phone", "phone"], [55, 30, 15])
    if mode == "email":
        contact = [(mail, "CONTACT")]
    elif mode == "email+phone":
        sep = r.pick([", ", " / ", ", tel. " if lang != "fr" else ", tél. "])
        contact = [(mail, "CONTACT"), (sep + phone, None)]
    else:
        contact = [(phone, "CONTACT")]
    colleague = {
        "de": "meine Kollegin" if cp["g"] == "f" else "meinen Kollegen",
        "fr": "ma collègue" if cp["g"] == "f" else "mon collègue",
    }.get(lang, "")
    return {
        "cname": f"{cp['first']} {cp['last']}",
        "contact": contact,
        "email": [(mail, "CONTACT")],
        "phone": [(phone, "CONTACT")],
        "colleague": colleague,
        "mode": mode,
    }


def ooo_body(r, lang, d0, who, comp, with_date, with_contact, bilingual=False, fixed=None):
    P = OOO[lang]
    blocks = []
    g = r.pick(*P["greet"])
    if g:
        blocks.append([(g, None)])
    th = r.pick(*P["thanks"])
    if th and not (lang == "en" and g.startswith("Hello and")):
        blocks.append([(th, None)])
    ret_date = None
    absent = "absente" if who["g"] == "f" else "absent"
    if with_date:
        ret_date, tmpl = fixed if fixed else (return_day(r, d0), r.pick(P["ret"]))
        named = ret_date - dt.timedelta(days=1) if "inclus" in tmpl else ret_date
        start = d0 - dt.timedelta(days=r.int(0, 4))
        blocks.append(
            fill(
                tmpl,
                date=[(fmt_date(r, named, lang), "RETURN_DATE")],
                start=fmt_date(r, start, lang),
                absent=absent,
            )
        )
    else:
        blocks.append(fill(r.pick(P["nodate"]), absent=absent))
    a = r.pick(*P["action"])
    if a:
        blocks.append([(a, None)])
    if with_contact:
        cs = contact_pieces(r, lang, comp)
        tmpls = [
            t
            for t in P["contact"]
            if not ("{email}" in t and "{phone}" not in t and cs["mode"] == "phone")
            and not ("{phone}" in t and "{email}" not in t and cs["mode"] != "phone")
        ]
        t = r.pick(tmpls)
        slots = dict(cs)
        if (
            "{phone}" in t and "{email}" in t
        ):  # phone then email: only the email is the CONTACT span
            slots["phone"] = [(plain(cs["phone"]), None)]
        blocks.append(fill(t, **{k: v for k, v in slots.items() if k != "mode"}))
    if not bilingual:
        blocks.append(sig_block(r, r.pick(P["sign"]), who, comp, phone_of(r, comp)))
    pieces = join_blocks(r, blocks, last_is_sig=not bilingual)
    return pieces, ret_date


def human_body(
    r, lang, intent_sents, who, comp, seller, extra_first=None, d0=None, auto_style=False
):
    """A human reply. auto_style: greeting and sign-off drawn from the auto-reply pools (terse writers)."""
    blocks = []
    g = r.pick(*OOO[lang]["greet"]) if auto_style else r.pick(HUMAN_GREET[lang])
    if g:
        blocks.append([(g.format(seller=seller[0].split()[0], seller_full=seller[0]), None)])
    if extra_first:
        blocks.append(extra_first)
    blocks.extend([[(s, None)] for s in intent_sents])
    blocks.append(
        sig_block(
            r,
            r.pick(OOO[lang]["sign"] if auto_style else HUMAN_SIGN[lang]),
            who,
            comp,
            phone_of(r, comp),
        )
    )
    pieces = join_blocks(r, blocks, last_is_sig=True)
    if d0 is not None and not auto_style and r.chance(0.2):
        q = d0 - dt.timedelta(days=r.int(1, 9))
        hdr = QUOTE_HDR[lang].format(
            wd=WD[lang][q.weekday()],
            mon=MON[lang][q.month - 1],
            d=q.day,
            m=q.month,
            hh=f"{r.int(8, 17):02d}",
            mm=f"{r.int(0, 59):02d}",
            seller_full=seller[0],
            seller_email=seller[1],
        )
        hello = {"en": "Hi", "de": "Hallo", "fr": "Bonjour"}[lang]
        pieces.append((f"\n\n{hdr}\n> {hello} {who['first']},\n> ...", None))
    return pieces


def pick_sents(r, lang, intent, n):
    pool = INTENT[lang][intent]
    idx = sorted(r.g.choice(len(pool), size=min(n, len(pool)), replace=False).tolist())
    return [pool[i] for i in idx]


def sched_when(r, d, lang):
    h = r.int(9, 16)
    if lang == "en":
        return f"{WD['en'][d.weekday()]}, {MON['en'][d.month - 1]} {d.day}, 2026 {h}:00 - {h}:30 (CEST)"
    if lang == "de":
        return (
            f"{WD['de'][d.weekday()]}, {d.day}. {MON['de'][d.month - 1]} 2026 {h}:00-{h}:30 (MESZ)"
        )
    return f"{WD['fr'][d.weekday()]} {d.day} {MON['fr'][d.month - 1]} 2026 {h}:00-{h}:30 (CEST)"


# ---------------------------------------------------------------- main loop


def _times(r, n, start, end, auto_share=0.0):
    days = (end - start).days
    day_w = np.array(
        [1.0 if (start + dt.timedelta(days=i)).weekday() < 5 else 0.25 for i in range(days)]
    )
    day = r.g.choice(days, size=n, p=day_w / day_w.sum())
    minute = np.clip(r.g.normal(11.5 * 60, 200, n), 0, 24 * 60 - 1).astype(int)
    ts = [
        dt.datetime(start.year, start.month, start.day) + dt.timedelta(days=int(a), minutes=int(b))
        for a, b in zip(day, minute, strict=False)
    ]
    return sorted(ts)


def build(seed: int = SEED):
    r = R(seed)
    comps = make_companies(r)
    ts = _times(r, N_HISTORY, dt.date(2026, 5, 1), dt.date(2026, 8, 1)) + _times(
        r, N_LATER, dt.date(2026, 8, 1), dt.date(2026, 10, 1)
    )
    extra = R(seed + 1)
    schedule = [(t, r) for t in ts] + [
        (t, extra)
        for t in _times(extra, N_SEPTEMBER_EXTRA, dt.date(2026, 9, 1), dt.date(2026, 10, 1))
    ]
    rows, truth, threads = [], [], {}
    n_thread = 0
    for t, r in schedule:  # each reply draws from its own stream (r)
        d0 = t.date()
        if t.month <= 7:
            lang = "en"
        else:
            p_local = 0.45 if t.month == 8 else 0.65
            lang = r.pick(["en", "de", "fr"], [1 - p_local, p_local * 0.55, p_local * 0.45])
        lst, w = comps[lang]
        comp = lst[int(r.g.choice(len(lst), p=w))]
        who = person_in(r, comp)
        seller = r.pick(SELLERS)
        key = who["email"]
        if key in threads and r.chance(0.3):
            thread_id, orig = threads[key]
        else:
            n_thread += 1
            thread_id = f"t-{n_thread:06d}"
            orig = r.pick(SUBJECTS[lang]).format(
                first=who["first"], company=comp["name"].split(" ")[0]
            )
            threads[key] = (thread_id, orig)
        re_subj = r.pick(*RE_PREFIX[lang]) + orig
        sender = who["email"]
        p_ooo = P_OOO + (0.07 if (t.month == 8 and lang != "en") else 0.0)
        cat = r.pick(
            ["ooo", "hard", "ambig", "ordinary"],
            [p_ooo, P_HARD, P_AMBIG, 1 - p_ooo - P_HARD - P_AMBIG],
        )
        label, diff, ret = "not_out_of_office", "easy", None
        if cat == "ooo":
            label = "out_of_office"
            with_date = r.chance(0.85)
            with_contact = r.chance(0.60)
            pieces, ret = ooo_body(r, lang, d0, who, comp, with_date, with_contact)
            if lang != "en" and r.chance(0.2):  # bilingual auto-reply: local text, then English
                fixed = (ret, r.pick(OOO["en"]["ret"])) if ret else None
                en_pieces, _ = ooo_body(
                    r, "en", d0, who, comp, with_date, with_contact, bilingual=True, fixed=fixed
                )
                pieces = [
                    *pieces,
                    (r.pick(["\n\n---\n\n", "\n\n***\n\n", "\n\n"]), None),
                    *en_pieces,
                ]
            subject = (
                r.pick(*RE_PREFIX[lang]) + orig
                if r.chance(0.15)
                else r.pick(*OOO_PREFIX[lang]) + orig
            )
        elif cat == "hard":
            diff = "hard_negative"
            kind = r.pick(
                ["vac", "away", "auto", "back", "cal", "bounce", "ticket", "left"],
                [15, 26, 17, 9, 12, 9, 6, 6],
            )
            subject = re_subj
            if kind == "vac":
                s = r.pick(HN_VAC[lang])
                past = any(w in s for w in ("I was", "Ich war", "J'étais"))
                dd = d0 - dt.timedelta(days=r.int(1, 6)) if past else return_day(r, d0)
                extra = [(s.replace("{date}", fmt_date(r, dd, lang)), None)]
                pieces = human_body(
                    r,
                    lang,
                    pick_sents(r, lang, r.pick(["interested", "question", "timing"]), r.int(0, 2)),
                    who,
                    comp,
                    seller,
                    extra_first=extra,
                    d0=d0,
                    auto_style=r.chance(0.5),
                )
            elif kind == "away":
                if r.chance(
                    0.7
                ):  # absence sentence straight out of the auto-reply pool, then a human follow-up
                    absent = "absente" if who["g"] == "f" else "absent"
                    first = fill(
                        r.pick(OOO[lang]["ret"]),
                        date=fmt_date(r, return_day(r, d0), lang),
                        start=fmt_date(r, d0, lang),
                        absent=absent,
                    )
                    sents = [
                        r.pick(SOFT[lang]),
                        *pick_sents(r, lang, "interested", int(r.chance(0.25))),
                    ]
                    pieces = human_body(
                        r, lang, sents, who, comp, seller, extra_first=first, auto_style=True
                    )
                else:
                    first = [
                        (
                            r.pick(HN_AWAY[lang]).replace(
                                "{date}", fmt_date(r, return_day(r, d0), lang)
                            ),
                            None,
                        )
                    ]
                    sents = pick_sents(
                        r, lang, r.pick(["interested", "question", "not_interested"]), r.int(1, 2)
                    )
                    pieces = human_body(r, lang, sents, who, comp, seller, extra_first=first, d0=d0)
            elif kind == "auto":
                s = r.pick(HN_AUTO[lang]).format(
                    phone=phone_of(r, comp),
                    date=fmt_date(r, return_day(r, d0), lang),
                    email=email_of(new_person(r, lang), comp),
                )
                pieces = join_blocks(
                    r,
                    [
                        [(s, None)],
                        sig_block(r, r.pick(OOO[lang]["sign"]), who, comp, phone_of(r, comp)),
                    ],
                    last_is_sig=True,
                )
                subject = r.pick(*OOO_PREFIX[lang]) + orig if r.chance(0.5) else re_subj
            elif kind == "back":
                pieces = human_body(
                    r,
                    lang,
                    pick_sents(
                        r, lang, r.pick(["interested", "question", "not_interested"]), r.int(1, 2)
                    ),
                    who,
                    comp,
                    seller,
                    extra_first=[(r.pick(HN_BACK[lang]), None)],
                    d0=d0,
                )
            elif kind == "cal":
                verb = r.pick(list(CAL[lang].keys()), [5, 2, 2, 2])
                md = return_day(r, d0)
                subject = f"{verb}: {r.pick(MEETING[lang])} @ {sched_when(r, md, lang)}"
                body = r.pick(CAL[lang][verb]).format(
                    full=f"{who['first']} {who['last']}",
                    date=fmt_date(r, return_day(r, md), lang),
                    when=sched_when(r, md, lang),
                )
                pieces = [(body, None)]
            elif kind == "bounce":
                subj, body = r.pick(BOUNCE[lang])
                subject = subj.format(orig=orig)
                sender = (
                    r.pick(["MAILER-DAEMON@", "postmaster@", "mailer-daemon@mail."])
                    + comp["domain"]
                )
                pieces = [
                    (
                        body.format(
                            addr=who["email"],
                            mx=f"{r.pick(['AM6PR', 'DB8PR', 'VI1PR', 'BN7PR'])}{r.int(10, 99)}MB{r.int(1000, 9999)}.prod.outlook.com",
                            when=t.strftime("%a, %d %b 2026 %H:%M:%S +0000"),
                        ),
                        None,
                    )
                ]
            elif kind == "ticket":
                subj, body = r.pick(TICKET[lang])
                n = r.int(10000, 999999)
                subject = subj.format(orig=orig, n=n)
                sender = r.pick(["support@", "no-reply@", "help@", "service@"]) + comp["domain"]
                pieces = [(body.format(n=n, company=comp["name"]), None)]
            else:  # left the company: automatic, names a contact, but NOT out-of-office
                cp = new_person(r, lang)
                s = r.pick(LEFT[lang]).format(
                    full=f"{who['first']} {who['last']}",
                    company=comp["name"],
                    cname=f"{cp['first']} {cp['last']}",
                    email=email_of(cp, comp),
                )
                pieces = join_blocks(r, [[(s, None)], [(comp["name"], None)]])
                subject = r.pick(*OOO_PREFIX[lang]) + orig
        elif cat == "ambig":
            diff = "ambiguous"
            tmpl, kind = r.pick(AMBIG[lang])
            if kind == "any":
                kind = r.pick(["num", "wd", "full"], [4, 3, 3])
            rd = return_day(r, d0)
            if kind == "wd":
                rd = d0 + dt.timedelta(days=r.int(2, 7))
                dtext = WD[lang][rd.weekday()]
            elif kind == "num":
                dtext = {"en": f"the {ordinal(rd.day)}", "de": f"zum {rd.day}.", "fr": str(rd.day)}[
                    lang
                ]
            else:
                dtext = fmt_date(r, rd, lang)
            label = "out_of_office" if r.chance(0.5) else "not_out_of_office"
            if lang == "de" and dtext.startswith("zum "):
                date_piece = [("zum ", None), (dtext[4:], "RETURN_DATE")]
            else:
                date_piece = [(dtext, "RETURN_DATE")]
            if label != "out_of_office":
                date_piece = [(plain(date_piece), None)]
            else:
                ret = rd
            blocks = [fill(tmpl, date=date_piece)]
            if r.chance(0.6):
                blocks.append(
                    [
                        (
                            r.pick(
                                ["{first}", "- {first}", "Sent from my iPhone", "{full}"]
                            ).format(first=who["first"], full=f"{who['first']} {who['last']}"),
                            None,
                        )
                    ]
                )
            pieces = join_blocks(r, blocks)
            subject = re_subj if r.chance(0.7) else orig
        else:
            intent = r.pick(
                ["interested", "not_interested", "unsubscribe", "question", "referral", "timing"],
                [26, 22, 12, 18, 10, 12],
            )
            if intent == "unsubscribe":
                sents = pick_sents(r, lang, intent, 1)
            elif intent == "referral":
                rp = new_person(r, lang)
                rp_mail = email_of(rp, comp)
                pool = INTENT[lang]["referral"]
                sents = ([pool[0]] if r.chance(0.6) else []) + [
                    r.pick(pool[1:]).format(rname=f"{rp['first']} {rp['last']}", remail=rp_mail)
                ]
            else:
                sents = pick_sents(r, lang, intent, r.int(1, 4))
                if intent in ("interested", "timing") and r.chance(0.3):
                    sents += pick_sents(r, lang, "question", 1)
            pieces = human_body(r, lang, sents, who, comp, seller, d0=d0)
            subject = re_subj
        body, spans = render(pieces)
        if label == "out_of_office":
            assert (ret is None) == (not any(s["type"] == "RETURN_DATE" for s in spans))
        else:
            assert not spans and ret is None
        rows.append(
            {
                "thread_id": thread_id,
                "sender": sender,
                "received_at": t.strftime("%Y-%m-%dT%H:%M:00Z"),
                "subject": subject,
                "body": body,
                "language": lang,
            }
        )
        truth.append(
            {
                "label": label,
                "difficulty": diff,
                "return_date": ret.isoformat() if ret else "",
                "spans": json.dumps(spans, separators=(",", ":"), ensure_ascii=False),
            }
        )
    ids = [f"r-{i + 1:06d}" for i in range(len(rows))]
    df = pd.DataFrame(rows)
    df.insert(0, "reply_id", ids)
    tr = pd.DataFrame(truth)
    tr.insert(0, "reply_id", ids)
    order = df["received_at"].argsort(kind="stable")  # the extra replies in time order
    df, tr = df.iloc[order].reset_index(drop=True), tr.iloc[order].reset_index(drop=True)
    return df, tr


# project.yaml and demo.yaml beside the data are hand-written files: the generator only writes data/.


def generate(out_dir: str, seed: int = SEED) -> dict:
    """Write ``<out_dir>/ooo-replies/data/*.csv``."""
    case_dir = os.path.join(out_dir, "ooo-replies")
    data_dir = os.path.join(case_dir, "data")
    os.makedirs(data_dir, exist_ok=True)
    df, tr = build(seed)
    cut = df["received_at"] < "2026-08-01"
    kw = dict(index=False, lineterminator="\n", encoding="utf-8")
    df[cut].to_csv(os.path.join(data_dir, "history.csv"), **kw)
    df[~cut].to_csv(os.path.join(data_dir, "later.csv"), **kw)
    tr.to_csv(os.path.join(data_dir, "truth.csv"), **kw)
    return {"history": int(cut.sum()), "later": int((~cut).sum())}


if __name__ == "__main__":
    import sys

    print(
        generate(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__)))
    )
