"""The words a person meets, in their language: gettext catalogues, one language per process.

Each app is one person's (the patient's, the therapist's, the support person's), so the
active language is per process: the saved choice of that person (``load_language``), else
the operating system's. Catalogues are ``companion/locale/<lang>/LC_MESSAGES/companion.po``;
``pybabel compile`` (script/bootstrap, build_installer.py) makes the ``.mo`` beside each, and
a ``.po`` newer than its ``.mo`` (or with none) is compiled in memory on first use, so a
fresh clone speaks every language it holds.

Marking: ``_("…")`` translates now; ``N_("…")`` only marks a table's words, translated
where they are shown (``_(TABLE[key])``); ``ngettext`` for counts. Numbers, dates and
times go through Babel's locale data (``number``, ``date_words``, ``clock``).
"""

from __future__ import annotations

import gettext
import io
import json
import logging
import os
from datetime import datetime
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime, format_skeleton, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

_log = logging.getLogger(__name__)

DOMAIN = "companion"
LOCALE_DIR = Path(__file__).parent / "locale"
SOURCE_LANGUAGE = "en"
"""The language the code is written in: its words are the catalogue's ids."""
SETTINGS_FILE = "patient-settings.json"
"""The person's small preferences in their app's data folder (``app/journal.py``'s too)."""

ESPEAK_VOICES: dict[str, str] = {"en": "en-us", "es": "es-419"}
"""espeak-ng's voice for each language (Latin American Spanish for the US market)."""

_language = SOURCE_LANGUAGE
_translations: gettext.NullTranslations = gettext.NullTranslations()


def languages() -> list[str]:
    """Every language this copy can speak: the source language and each catalogue found."""
    found = sorted(
        p.parent.parent.name for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po") if p.is_file()
    )
    return [SOURCE_LANGUAGE, *(lang for lang in found if lang != SOURCE_LANGUAGE)]


def language_name(lang: str) -> str:
    """A language's name in that language ("Español"), for the language picker."""
    try:
        name = Locale.parse(lang).get_display_name(lang) or lang
    except (UnknownLocaleError, ValueError):
        return lang
    return name[:1].upper() + name[1:]


def system_language(environ: dict[str, str] | None = None) -> str:
    """The operating system's language if this copy speaks it, else the source language.

    Read as gettext does: ``LANGUAGE`` (a ``:`` list), then ``LC_ALL``, ``LC_MESSAGES``,
    ``LANG``; "es_US.UTF-8" is "es"."""
    env = os.environ if environ is None else environ
    have = languages()
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        for value in env.get(var, "").split(":"):
            lang = value.split(".")[0].split("@")[0].split("_")[0].lower()
            if lang in have:
                return lang
            if lang and lang not in ("c", "posix") and var != "LANGUAGE":
                return SOURCE_LANGUAGE  # the OS names a language we do not have yet
    return SOURCE_LANGUAGE


def catalogue(lang: str) -> gettext.NullTranslations:
    """The compiled catalogue for ``lang`` (the ``.mo`` if current, else the ``.po``
    compiled in memory); no translations for the source language or an unknown one."""
    base = LOCALE_DIR / lang / "LC_MESSAGES"
    po, mo = base / f"{DOMAIN}.po", base / f"{DOMAIN}.mo"
    if lang == SOURCE_LANGUAGE or not po.is_file():
        return gettext.NullTranslations()
    if mo.is_file() and mo.stat().st_mtime >= po.stat().st_mtime:
        with mo.open("rb") as f:
            return gettext.GNUTranslations(f)
    with po.open("rb") as f:
        catalog = read_po(f, locale=lang)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


_catalogues: dict[str, gettext.NullTranslations] = {}


def translations(lang: str) -> gettext.NullTranslations:
    """``lang``'s catalogue, kept: for a server answering each person in theirs (the
    process's own language is ``set_language``'s)."""
    if lang not in _catalogues:
        _catalogues[lang] = catalogue(lang if lang in languages() else SOURCE_LANGUAGE)
    return _catalogues[lang]


def best_language(accept_language: str) -> str:
    """The first language in a browser's ``Accept-Language`` that we have ("es-US,es;q=0.9,
    en;q=0.8" is "es"), else the source language."""
    wanted = []
    for index, part in enumerate(accept_language.split(",")):
        tag, _sep, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        wanted.append((-quality, index, tag.split("-")[0].lower()))
    have = languages()
    for _quality, _index, lang in sorted(wanted):
        if lang in have:
            return lang
    return SOURCE_LANGUAGE


def set_language(lang: str) -> str:
    """Make ``lang`` this process's language (the source language if we do not have it);
    returns the language now in use. Words already on screen are re-read by their owner."""
    global _language, _translations
    if lang not in languages():
        lang = SOURCE_LANGUAGE
    _translations = catalogue(lang)
    _language = lang
    _log.info("language: %s", lang)
    return lang


def language() -> str:
    return _language


def _(message: str) -> str:
    """The active language's words for ``message`` (the message itself if none)."""
    return _translations.gettext(message)


def N_(message: str) -> str:
    """Marks words for the catalogue without translating them yet (tables read at import)."""
    return message


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form for ``n`` in the active language (Spanish, like English, has two)."""
    return _translations.ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    """Words that mean different things in different places ("Lost" a link, a state)."""
    return _translations.pgettext(context, message)


def number(value: float, digits: int = 0) -> str:
    """A number as the active language writes it ("1,234.5" / "1.234,5"), with at
    most ``digits`` decimals."""
    return format_decimal(round(value, digits) if digits else round(value), locale=_language)


def clock(at: float, seconds: bool = True) -> str:
    """A local time of day ("14:05:09")."""
    return format_time(
        datetime.fromtimestamp(at), "HH:mm:ss" if seconds else "HH:mm", locale=_language
    )


def date_words(at: float) -> str:
    """A day in full words, as the language says it ("Sunday, November 29, 2026" /
    "domingo, 29 de noviembre de 2026")."""
    return format_date(datetime.fromtimestamp(at), "full", locale=_language)


def day_and_time(at: float) -> str:
    """A day of the week, date and time, short ("Tue, Dec 1 14:05" / "mar, 1 dic 14:05")."""
    day = format_skeleton("MMMEd", datetime.fromtimestamp(at), locale=_language)
    return f"{day} {clock(at, seconds=False)}"


def stamp(at: float) -> str:
    """A local date and time, short ("2026-11-29 14:05" in every language: records)."""
    return format_datetime(datetime.fromtimestamp(at), "yyyy-MM-dd HH:mm", locale=_language)


# -- the person's choice ---------------------------------------------------------------------


def load_language(data_dir: Path) -> str | None:
    """The language this person chose in their app, if any."""
    try:
        data = json.loads((data_dir / SETTINGS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    lang = data.get("language") if isinstance(data, dict) else None
    return lang if isinstance(lang, str) and lang in languages() else None


def save_language(data_dir: Path, lang: str) -> None:
    """Remember this person's language (kept with their other small preferences)."""
    path = data_dir / SETTINGS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    data["language"] = lang
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data), encoding="utf-8")
    except OSError as exc:
        _log.warning("language not saved: %s", type(exc).__name__)


def start_language(data_dir: Path | None) -> str:
    """At an app's start: the person's saved language, else the operating system's."""
    saved = load_language(data_dir) if data_dir is not None else None
    return set_language(saved or system_language())
