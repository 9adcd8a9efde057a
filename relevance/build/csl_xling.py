"""Build the cross-lingual judged set `relevance/sets/csl-xling-dev/`.

- `en-to-zh`: English keyword queries for Chinese-only papers. The papers are the 1,000 CSL
  development papers of `relevance/sets/csl-dev/` (Chinese title and abstract only); each query
  is one of that set's `zh-keywords` queries translated into English by hand (below); the
  relevant papers are those of the Chinese keyword.
- `zh-to-en`: Chinese title queries for English-only papers. The papers are the Wanfang records
  with paired Chinese and English fields in `tests/fixtures/zh_en/` (rdmpage/biorss), kept with
  their English title and abstract only; each query is a record's Chinese title, relevant: the
  English-only copy of the same record.

    python relevance/build/csl_xling.py relevance/sets/csl-dev tests/fixtures/zh_en \
        relevance/sets/csl-xling-dev
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# CSL author keywords (zh-keywords of csl-dev) and their English, translated by hand.
TRANSLATED = {
    "不正当竞争": "unfair competition",
    "世界反法西斯战争": "World Anti-Fascist War",
    "人兽共患病": "zoonosis",
    "代价决策树": "cost-sensitive decision tree",
    "仿生设计": "bionic design",
    "传质": "mass transfer",
    "全过程管理": "whole-process management",
    "冷空气": "cold air",
    "创业机会": "entrepreneurial opportunity",
    "动物病害": "animal diseases",
    "单板层积材": "laminated veneer lumber",
    "双抗原夹心法": "double antigen sandwich assay",
    "向量自回归": "vector autoregression",
    "嗜水气单胞菌": "Aeromonas hydrophila",
    "地理扩散": "geographic diffusion",
    "基层医疗机构": "primary health care institutions",
    "增殖细胞核抗原": "proliferating cell nuclear antigen",
    "大蒜": "garlic",
    "天线阵列": "antenna array",
    "安息香": "benzoin",
    "实景演出": "live-action performance",
    "室内设计": "interior design",
    "小波包变换": "wavelet packet transform",
    "屈曲分析": "buckling analysis",
    "平均降水量": "mean precipitation",
    "循环冷却": "circulating cooling water",
    "快速检测": "rapid detection",
    "戏曲史": "history of Chinese opera",
    "手工业": "handicraft industry",
    "抗剪强度": "shear strength",
    "推覆体": "nappe",
    "收入分配": "income distribution",
    "教师素质": "teacher quality",
    "数学模型": "mathematical model",
    "文化民族主义": "cultural nationalism",
    "新型同步注浆浆液": "new synchronous grouting slurry",
    "时间同步": "time synchronization",
    "月季": "Chinese rose",
    "桩土应力比": "pile-soil stress ratio",
    "概念设计": "conceptual design",
    "正交最小二乘算法": "orthogonal least squares algorithm",
    "民族地区": "ethnic minority regions",
    "氮素": "nitrogen",
    "水电站厂房": "hydropower station powerhouse",
    "油罐区": "oil tank farm",
    "注册会计师制度": "certified public accountant system",
    "海事智能交通": "maritime intelligent transportation",
    "深圳": "Shenzhen",
    "温室": "greenhouse",
    "激波": "shock wave",
    "生态环境破坏": "ecological environment damage",
    "病原菌": "pathogenic bacteria",
    "白粉病": "powdery mildew",
    "目标跟踪": "target tracking",
    "石墨阳极": "graphite anode",
    "矿物组成": "mineral composition",
    "硼掺杂": "boron doping",
    "种群模型": "population model",
    "稳态产能": "steady-state productivity",
    "粗提物": "crude extract",
    "统一计算设备架构": "compute unified device architecture",
    "缺氧": "hypoxia",
    "肺动脉栓塞": "pulmonary embolism",
    "能量原理": "energy principle",
    "自由喷流": "free jet",
    "苏丹红": "Sudan red",
}


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def build(csl_dev: Path, wanfang: Path, out: Path) -> None:
    corpus = read_jsonl(csl_dev / "corpus.jsonl")
    by_keyword = {
        q["query"]: q["relevant"]
        for q in read_jsonl(csl_dev / "queries.jsonl")
        if q["group"] == "zh-keywords"
    }
    missing = sorted(set(TRANSLATED) - set(by_keyword))
    if missing:
        raise SystemExit(f"not zh-keywords queries of {csl_dev}: {missing}")
    queries = [
        {
            "id": f"en-zh-{n:03d}",
            "query": english,
            "group": "en-to-zh",
            "relevant": by_keyword[chinese],
        }
        for n, (chinese, english) in enumerate(sorted(TRANSLATED.items()), 1)
    ]
    papers = [{k: p[k] for k in ("id", "title", "abstract") if k in p} for p in corpus]
    n = 0
    for feed in sorted(wanfang.glob("wanfang_biorss_datafeed_*.json")):
        for element in json.loads(feed.read_text(encoding="utf-8"))["dataFeedElement"]:
            item = element["item"]
            title, abstract = item.get("name", {}), item.get("description", {})
            if not (title.get("zh") and title.get("en")):
                continue
            n += 1
            doc_id = f"wanfang-en-{n:03d}"
            paper = {"id": doc_id, "title": title["en"], "doi": item.get("doi")}
            if abstract.get("en"):
                paper["abstract"] = abstract["en"]
            papers.append(paper)
            queries.append(
                {
                    "id": f"zh-en-{n:03d}",
                    "query": title["zh"],
                    "group": "zh-to-en",
                    "relevant": {doc_id: 1},
                }
            )
    out.mkdir(parents=True, exist_ok=True)
    for name, items in (("corpus.jsonl", papers), ("queries.jsonl", queries)):
        with (out / name).open("w", encoding="utf-8") as file:
            for item in items:
                file.write(json.dumps(item, ensure_ascii=False) + "\n")
    print(f"{len(papers)} papers, {len(queries)} queries → {out}")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit("usage: csl_xling.py CSL_DEV_SET WANFANG_FIXTURES OUT_DIR")
    build(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
