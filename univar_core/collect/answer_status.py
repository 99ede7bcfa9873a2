"""Empty and refused answers are kept in the QA file and counted, never silently dropped: a model
that refuses a third of the questions is itself a finding.

``status`` is "empty" (nothing but whitespace), "refused" (opens with a refusal formula) or "ok".
The refusal check is a deliberately narrow list of openings; it undercounts rather than flags
answers that discuss a question and then decline one part of it.
"""
from __future__ import annotations

import re

_REFUSAL_OPENINGS = re.compile(
    r"^\W*(?:"
    r"i(?:'m| am) (?:sorry|afraid)[^.]{0,40}\b(?:can(?:'|no)t|cannot|unable|not able)"
    r"|i (?:can(?:'|no)t|cannot|won't|will not|am unable to|am not able to) (?:help|assist|answer|provide|"
    r"comply|respond|give|share|offer)"
    r"|sorry,? (?:but )?i (?:can(?:'|no)t|cannot)"
    r"|as an ai(?: language model)?,? i (?:can(?:'|no)t|cannot|do not|don't)"
    r"|i'm not able to (?:help|answer|provide)"
    r"|(?:抱歉|对不起)[^。]{0,20}(?:无法|不能)"
    r"|我(?:无法|不能)(?:回答|提供|帮助)"
    r")",
    re.IGNORECASE,
)

STATUSES = ("ok", "empty", "refused")


def answer_status(text: str | None) -> str:
    text = (text or "").strip()
    if not text:
        return "empty"
    return "refused" if _REFUSAL_OPENINGS.match(text[:200]) else "ok"
