"""People's names compared across scripts and conventions: `林业杰`, `LIN Ye-Jie`, `Yejie Lin`
and `Lin, Y.-J.` are one person.

A name becomes its readings: (family name, given name) pairs in folded Latin letters. A name in
Han characters is read in pinyin (pypinyin), the family name first (one character, or two for
the compound family names below), each reading of a family name that has several (单: shan or
dan); the given name's syllables are joined (`ye jie` → `yejie`). A name in Latin letters has
no reliable order (`LIN Ye-Jie`, `Yejie Lin`), so both ends are tried as the family name;
`Family, Given` says which. Two names are the same person when a family name and a given name
agree, or the given names are initials that agree (`Y.-J.` with `Ye-Jie`).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from scholarflow.paper.text import has_han

# Two-character family names: read as one family name, not a family name and a given one.
COMPOUND_FAMILY_NAMES = frozenset(
    "欧阳 司马 诸葛 上官 东方 皇甫 尉迟 公孙 慕容 令狐 "
    "夏侯 长孙 宇文 司徒 端木 独孤 南宫 轩辕 呼延 闻人".split()
)
_WORDS = re.compile(r"[\s.\-‐]+")

# (family, the given name's syllables or words), folded Latin letters.
Reading = tuple[str, tuple[str, ...]]


def fold(text: str) -> str:
    """Lower-case ASCII letters of `text` (accents and width folded, pinyin's ü as u)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return ascii_text.lower()


@lru_cache(maxsize=50_000)
def readings(name: str) -> frozenset[Reading]:
    """Every (family, given) the name may be read as; empty for a name with no letters."""
    name = unicodedata.normalize("NFKC", name).strip()
    if has_han(name):
        return _han_readings(re.sub(r"[^\u3400-\u9fff]", "", name))
    if "," in name:
        family, _, given = name.partition(",")
        surname = "".join(_words(family))
        return frozenset({(surname, _words(given))}) if surname else frozenset()
    words = [w for w in re.split(r"\s+", name) if _words(w)]
    if not words:
        return frozenset()
    if len(words) == 1:
        return frozenset({("".join(_words(words[0])), ())})
    first, last = "".join(_words(words[0])), "".join(_words(words[-1]))
    return frozenset({(first, _words(" ".join(words[1:]))), (last, _words(" ".join(words[:-1])))})


def _words(text: str) -> tuple[str, ...]:
    return tuple(w for w in (re.sub(r"[^a-z]", "", p) for p in _WORDS.split(fold(text))) if w)


def _han_readings(name: str) -> frozenset[Reading]:
    # pypinyin loads its dictionaries on import (0.5 s of CPU): only a run that compares a name
    # in Han characters pays for them.
    from pypinyin import Style, lazy_pinyin, pinyin

    if not name:
        return frozenset()
    cut = 2 if name[:2] in COMPOUND_FAMILY_NAMES and len(name) > 2 else 1
    family, given = name[:cut], name[cut:]
    families = {_pinyin_joined(family)}
    if cut == 1:
        families |= {
            r.replace("v", "u") for r in pinyin(family, style=Style.NORMAL, heteronym=True)[0]
        }
    syllables = tuple(s.replace("v", "u") for s in lazy_pinyin(given, style=Style.NORMAL))
    return frozenset((f, syllables) for f in families)


def _pinyin_joined(text: str) -> str:
    from pypinyin import Style, lazy_pinyin

    return "".join(lazy_pinyin(text, style=Style.NORMAL)).replace("v", "u")


def family_names(name: str) -> frozenset[str]:
    """The family names the name may have."""
    return frozenset(family for family, _ in readings(name))


def _given_agree(mine: tuple[str, ...], theirs: tuple[str, ...]) -> bool:
    """Whole given names agree however they are split (`ye jie`, `yejie`), or one is the
    other's initials (`y j` for `ye jie`, `j` for `jun`)."""
    if "".join(mine) == "".join(theirs):
        return True
    for short, full in ((mine, theirs), (theirs, mine)):
        if short and full and all(len(part) == 1 for part in short):
            initials = "".join(part[0] for part in full)
            if "".join(short) in (initials, initials[: len(short)]):
                return True
    return False


def same_person(first: str, second: str) -> bool:
    """Whether two author names name the same person (see the module docstring)."""
    return any(
        family == other_family and _given_agree(given, other_given)
        for family, given in readings(first)
        for other_family, other_given in readings(second)
        if family
    )
