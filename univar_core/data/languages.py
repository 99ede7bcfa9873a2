"""Language codes written one way: ISO 639-3, as in the paper's value IDs (`gpt-4$eng`).

Files say `en`, `eng`, `EN` or `English` for the same language; left as given, each would become its own
value ID (`m$en` next to `m$eng`) and an upload would never meet the map it is placed on. Recognised
codes are rewritten; anything else (a region-tagged `en-US`, a private code) is kept as given.
"""
from __future__ import annotations

from functools import lru_cache

import pandas as pd
import pycountry


@lru_cache(maxsize=4096)
def iso639_3(code: str) -> str | None:
    """The ISO 639-3 code of an ISO 639-1/639-2/639-3 code or an English language name; None if unknown.

    Codes are matched as codes only: pycountry's free lookup would read `en` as the language named "En".
    """
    key = code.strip().lower()
    if len(key) == 2:
        found = pycountry.languages.get(alpha_2=key)
    elif len(key) == 3:
        found = pycountry.languages.get(alpha_3=key) or pycountry.languages.get(bibliographic=key)
    else:
        found = next((lang for lang in pycountry.languages
                      if key in (lang.name.lower(), getattr(lang, "common_name", "").lower())), None)
    return found.alpha_3 if found is not None else None


def normalise_languages(langs: pd.Series) -> tuple[pd.Series, dict[str, tuple[str, int]]]:
    """Rewrite recognised language codes as ISO 639-3. Returns the new column and, for each code that
    changed, (new code, rows)."""
    counts = langs.value_counts(sort=False)
    mapping = {given: new for given in counts.index if (new := iso639_3(given)) is not None and new != given}
    if not mapping:
        return langs, {}
    return langs.replace(mapping), {given: (new, int(counts[given])) for given, new in mapping.items()}


def describe_changes(changes: dict[str, tuple[str, int]], *, limit: int = 8) -> str:
    """e.g. "'en' -> 'eng' (120 rows), 'English' -> 'eng' (3 rows)"."""
    items = sorted(changes.items(), key=lambda kv: -kv[1][1])
    text = ", ".join(f"{given!r} -> {new!r} ({n:,} row{'s' if n != 1 else ''})" for given, (new, n) in items[:limit])
    return text + (f" and {len(items) - limit} more" if len(items) > limit else "")
