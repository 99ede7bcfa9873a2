"""About: what UniVaR is, how to read the map, where the data comes from, how to load your own."""
from __future__ import annotations

import streamlit as st

from pages import _session

ABOUT = """
**UniVaR** (Cahyawijaya et al., *High-Dimension Human Value Representation in Large Language Models*,
NAACL 2025, arXiv 2404.07900) represents the values an LLM expresses through the answers it gives to
value-eliciting questions. One LLM answering in one language is a **value ID**, written `model$lang`
(e.g. `gpt-4$eng`). Each question/answer pair (QA) is embedded as the text `Q: {question} A: {answer}`;
UniVaR's own encoders are trained with multi-view contrastive learning so that QAs of the same value ID land
close together and QAs of other value IDs far apart. This app reproduces the paper's views of that space
and adds measurements: distances between value IDs with their rank, same-question answer pairs, and the
placement of your own QAs.

#### How to read the map
- **Each point is one QA**, placed in 2-D by UMAP from its embedding. Nearby points express similar
  content and stances; the axes themselves have no meaning.
- **Colours** show who answered (language, model, value ID), the dataset, the layer or the cluster
  (HDBSCAN on the map, labelled with keywords). With many value IDs, colour by language or model, or
  highlight a few.
- The **grouped view** puts one point per value ID (the paper's fig. 5), laid out so that the 2-D
  distances follow the distances between the value IDs' embeddings (metric MDS; the caption says how
  faithfully): value IDs that sit together answer alike. It does not average map positions, which
  would put every value ID near the middle, since they all answer the same questions.
- **Distances** on the Compare page are computed on the embeddings, not on the 2-D picture, which
  distorts distances.
- The default encoder, all-MiniLM-L6-v2, is a general sentence encoder: it mostly encodes what a QA is
  *about*. Question-centred embeddings (the map option `--centre-questions`) subtract each question's
  mean answer and keep how answers differ; a trained UniVaR encoder (or a head trained with
  `python -m univar_core.cli train`) focuses on values.

#### Data
- **Demo map** (`demo`): a *synthetic* corpus written by this project — fictional models and languages
  answering value-eliciting questions with planted, documented stances. It shows how the app works; it
  says nothing about real LLMs.
- **ValueBench** (Ren et al., ACL 2024; MIT): six LLMs answering 1,988 value-eliciting advice questions
  rephrased from psychometric inventories (English).
- **AlpacaEval** model outputs (CC BY-NC 4.0): generic instructions answered by 18 LLMs, a non-value
  control like LIMA in the paper.
- The **UniVaR release** (QAs of many LLMs in many languages, translated to English) loads from its
  folder layout `<dataset>/qa_translated/<model>.csv`.

#### Load your own data
Any table with the columns `question`, `answer`, `model`, `lang` (optional `question_id`, `dataset`,
anything else) in CSV/TSV, JSONL, parquet or xlsx:
```bash
python -m univar_core.cli build my_qas.csv --name my-map        # embed, project, cluster, store
python -m univar_core.cli build my_qas.csv --name my-map-values --centre-questions  # values, not topics
python -m univar_core.cli build path/to/univar_release/ --name univar   # the UniVaR release folder layout
python -m univar_core.cli build qas.parquet --name precomputed --embeddings emb.npy --encoder-name CAiRE/UniVaR-lambda-5
python -m univar_core.cli place new_model.csv --map my-map --layer new-model   # add QAs as a new layer
python -m univar_core.cli info my-map                           # what a map holds
python -m univar_core.cli demo                                  # (re)build the demo map
```
(run from the project folder; after `pip install .` the same commands are `univar build ...`)
Maps are stored in the data directory (`maps/` in the project, or `$UNIVAR_DATA_DIR`) and appear in the
sidebar. To try a few QAs without saving anything, use the **Upload** page. Another encoder is one option
away: `python -m univar_core.cli build my_qas.csv --name my-map --encoder PATH_OR_NAME` (any
sentence-transformers model, a trained head folder, or a published UniVaR checkpoint such as
`CAiRE/UniVaR-lambda-5` where a model hub is reachable).
`python -m univar_core.cli export my-map --out my-map.csv` writes the table with its map coordinates.
"""

vmap = _session.current_map()
st.title("About UniVaR Explorer")
st.markdown(ABOUT)
st.subheader("The open map")
manifest = vmap.manifest
counts = manifest.get("counts") or {}
st.text("\n".join([
    f"name: {vmap.name}",
    f"QAs: {vmap.n_qas:,}   value IDs: {vmap.points['value_id'].nunique():,}",
    f"encoder: {_session.encoder_name(manifest)}",
    f"layers: {', '.join(map(str, vmap.layers))}",
    f"created: {manifest.get('created', '?')}",
    f"folder: {vmap.path}",
]))
with st.expander("Manifest (projection parameters, versions, checksums)"):
    st.json({k: v for k, v in manifest.items() if k != "counts"} | {"counts": counts})
