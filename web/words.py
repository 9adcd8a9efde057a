"""The interface in English and Simplified Chinese: labels, counts that agree in number, dates
and numbers as each reader writes them.

The reader's language comes from `?lang=` (the switch on every page), else from the browser's
`Accept-Language`; English otherwise. Chinese has no plural: a count takes a measure word
(`篇` for papers) instead.
"""

from __future__ import annotations

from typing import Any

LANGUAGES = ("en", "zh")
# The `lang` attribute of the page and of each language's text.
HTML_LANG = {"en": "en", "zh": "zh-Hans"}

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "site": "Scholarflow",
        "tagline": "Search scholarly papers in English and Chinese",
        "search": "Search",
        "query_label": "Search papers",
        "placeholder": "Words in English or Chinese, a phrase in quotes, or a DOI",
        "switch": "中文",
        "switch_title": "切换到中文界面",
        "filters": "Filters",
        "year": "Year",
        "journal": "Journal",
        "journal_zh": "Journal (Chinese)",
        "language": "Language",
        "correction": "Corrections",
        "hide_retracted": "Hide retracted and withdrawn papers",
        "apply": "Apply",
        "clear": "Clear filters",
        "remove_filter": "Remove filter",
        "results": "Results",
        "no_results": "No paper matches. Try fewer words, or the other language.",
        "across": "found across languages, by meaning",
        "across_translated": "found across languages, by translated words",
        "by_meaning": "by meaning",
        "pages": "Pages",
        "previous": "Previous",
        "next": "Next",
        "page_n": "Page {n}",
        "abstract": "Abstract",
        "abstract_en": "Abstract (English)",
        "abstract_zh": "Abstract (Chinese)",
        "authors": "Authors",
        "identifiers": "Identifiers",
        "published": "Published",
        "export": "Export citation",
        "back": "Back to the search",
        "not_found": "No paper has this id or DOI.",
        "error": "Something went wrong",
        "lang_en": "English",
        "lang_zh": "Chinese",
        "open_access": "Open access",
        "citations": "Cited by",
        "notice": "notice",
        "pdf": "PDF",
        "retracted": "Retracted",
        "withdrawn": "Withdrawn",
        "expression_of_concern": "Expression of concern",
        "corrected": "Corrected",
        "unreadable": "Updates unreadable",
        "suggestions": "Suggested titles",
        "skip": "Skip to the results",
    },
    "zh": {
        "site": "Scholarflow 学术检索",
        "tagline": "中英文学术论文检索",
        "search": "检索",
        "query_label": "检索论文",
        "placeholder": "输入中文或英文关键词、带引号的短语或 DOI",
        "switch": "English",
        "switch_title": "Switch to English",
        "filters": "筛选",
        "year": "年份",
        "journal": "期刊",
        "journal_zh": "中文刊名",
        "language": "语种",
        "correction": "更正与撤稿",
        "hide_retracted": "不显示已撤稿或已撤回的论文",
        "apply": "应用",
        "clear": "清除筛选",
        "remove_filter": "取消筛选",
        "results": "检索结果",
        "no_results": "没有找到相关论文。请减少关键词，或换用另一种语言检索。",
        "across": "跨语言语义匹配",
        "across_translated": "跨语言译词匹配",
        "by_meaning": "语义匹配",
        "pages": "分页",
        "previous": "上一页",
        "next": "下一页",
        "page_n": "第 {n} 页",
        "abstract": "摘要",
        "abstract_en": "英文摘要",
        "abstract_zh": "中文摘要",
        "authors": "作者",
        "identifiers": "标识符",
        "published": "出版日期",
        "export": "导出引文",
        "back": "返回检索结果",
        "not_found": "找不到该 ID 或 DOI 对应的论文。",
        "error": "出错了",
        "lang_en": "英文",
        "lang_zh": "中文",
        "open_access": "开放获取",
        "citations": "被引",
        "notice": "通知",
        "pdf": "全文 PDF",
        "retracted": "已撤稿",
        "withdrawn": "已撤回",
        "expression_of_concern": "关注声明",
        "corrected": "已更正",
        "unreadable": "更新信息无法读取",
        "suggestions": "标题建议",
        "skip": "跳到检索结果",
    },
}


def reader_language(asked: str | None, accept_language: str | None) -> str:
    """`zh` or `en`: the `lang` asked for, else the browser's first zh or en preference."""
    if asked in LANGUAGES:
        return asked
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh"
        if tag.startswith("en"):
            return "en"
    return "en"


def number(value: int, lang: str) -> str:
    """`12,345` in both: Chinese writes thousands with commas too (GB/T 15835)."""
    return f"{value:,}"


def papers_found(count: int, lang: str) -> str:
    """`1 paper matches` / `2 papers match` / `找到 2 篇论文`."""
    if lang == "zh":
        return f"找到 {number(count, lang)} 篇论文"
    return f"{number(count, lang)} {'paper matches' if count == 1 else 'papers match'}"


def cited_by(count: int, lang: str) -> str:
    if lang == "zh":
        return f"被引 {number(count, lang)} 次"
    return f"cited {number(count, lang)} {'time' if count == 1 else 'times'}"


_MONTHS = (
    "January February March April May June July August September October November December"
).split()


def date(published: dict[str, Any] | None, year: int | None, lang: str) -> str:
    """`21 March 2012` / `2012年3月21日`, to the precision the record has."""
    value = (published or {}).get("value") or ""
    parts = [int(p) for p in str(value).split("-") if p.isdigit()][:3]
    if not parts:
        return str(year) if year else ""
    if lang == "zh":
        return "".join(f"{n}{unit}" for n, unit in zip(parts, ("年", "月", "日"), strict=False))
    if len(parts) == 1:
        return str(parts[0])
    month = _MONTHS[parts[1] - 1] if 1 <= parts[1] <= 12 else str(parts[1])
    return f"{parts[2]} {month} {parts[0]}" if len(parts) == 3 else f"{month} {parts[0]}"


def facet_value(name: str, value: Any, lang: str) -> str:
    """A facet bucket's value as the reader reads it (language codes, correction statuses)."""
    labels = LABELS[lang]
    if name == "language":
        return labels.get(f"lang_{value}", str(value))
    if name == "correction":
        return labels.get(str(value), str(value))
    return str(value)
