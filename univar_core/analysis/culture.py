"""External validation: do value-ID distances follow human cultural distances?

The user supplies (1) a table of countries' positions on a human cultural map, e.g. the
Inglehart-Welzel map of the World Values Survey (columns ``country`` plus numeric coordinates) and
(2) a language -> country mapping (editable; ``default_lang_country`` gives a starting guess). Each
language gets the mean position of its countries; the human distance between two languages is the
Euclidean distance between those positions. ``rank_correlation`` then compares it with a language
distance matrix from the map (Spearman's rho over all language pairs, with scipy's p-value).

``assets/cultural_map_example.csv`` is an ILLUSTRATIVE EXAMPLE with invented coordinates, not real
data: it shows the format; replace it with real WVS coordinates before drawing any conclusion.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import rankdata, spearmanr

from univar_core.data.schema import QAInputError
from univar_core.paths import ASSETS_DIR

EXAMPLE_CULTURAL_MAP = ASSETS_DIR / "cultural_map_example.csv"

# A first guess of the country whose culture a language stands for (ISO 639-3 codes, as in the
# UniVaR release). Many languages span several countries: users should edit this mapping.
DEFAULT_LANG_COUNTRY = {
    "eng": "United States", "zho": "China", "jpn": "Japan", "kor": "South Korea", "deu": "Germany",
    "fra": "France", "spa": "Spain", "ita": "Italy", "por": "Brazil", "rus": "Russia",
    "ara": "Egypt", "hin": "India", "ben": "Bangladesh", "ind": "Indonesia", "vie": "Vietnam",
    "tha": "Thailand", "tur": "Turkey", "fas": "Iran", "nld": "Netherlands", "swe": "Sweden",
    "pol": "Poland", "ukr": "Ukraine", "ell": "Greece", "heb": "Israel", "msa": "Malaysia",
    "tgl": "Philippines", "urd": "Pakistan", "swa": "Kenya", "amh": "Ethiopia", "yor": "Nigeria",
}


def _read_csv_skipping_comments(path_or_buffer, source: str) -> pd.DataFrame:
    """CSV whose lines starting with '#' are comments (only whole lines: '#' inside a value is kept)."""
    try:
        if hasattr(path_or_buffer, "read"):
            raw = path_or_buffer.read()
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        else:
            text = Path(path_or_buffer).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise QAInputError(f"cannot read the cultural map: {err}", source=source) from err
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    if not any(ln.strip() for ln in lines):
        raise QAInputError("the cultural map is empty", source=source)
    try:
        return pd.read_csv(io.StringIO("\n".join(lines)))
    except (pd.errors.ParserError, ValueError) as err:
        raise QAInputError(f"not a readable CSV: {err}", source=source) from err


def load_cultural_map(data, *, name: str | None = None, coordinates: list[str] | None = None) -> pd.DataFrame:
    """A validated cultural map: ``country`` plus numeric coordinate columns, one row per country.

    ``data``: a DataFrame, a CSV path or a file-like object. ``coordinates``: the columns to use
    (default: every column except ``country`` that is fully numeric, e.g. ``x, y`` or the WVS
    ``traditional_secular, survival_self_expression``). Errors name the file, row and column.
    """
    if isinstance(data, pd.DataFrame):
        source, table = name or "<table>", data.copy()
    else:
        source = name or getattr(data, "name", None) or str(data)
        source = Path(source).name
        table = _read_csv_skipping_comments(data, source)
    table.columns = [str(c).strip() for c in table.columns]
    if "country" not in table.columns:
        raise QAInputError(f"needs a 'country' column (found: {', '.join(table.columns)})", source=source,
                           column="country")
    if coordinates is None:
        coordinates = [c for c in table.columns if c != "country"
                       and pd.to_numeric(table[c], errors="coerce").notna().all()]
        if not coordinates:
            raise QAInputError("no numeric coordinate column besides 'country'", source=source)
    for col in coordinates:
        if col not in table.columns:
            raise QAInputError("coordinate column not found", source=source, column=col)
        numeric = pd.to_numeric(table[col], errors="coerce")
        bad = np.flatnonzero(numeric.isna().to_numpy())
        if bad.size:
            raise QAInputError(f"not a number: {table[col].iloc[bad[0]]!r}", source=source,
                               row=int(bad[0]) + 1, column=col)
        table[col] = numeric.astype(float)
    table["country"] = table["country"].astype(str).str.strip()
    empty = np.flatnonzero((table["country"] == "").to_numpy())
    if empty.size:
        raise QAInputError("empty country name", source=source, row=int(empty[0]) + 1, column="country")
    dupes = np.flatnonzero(table["country"].duplicated().to_numpy())
    if dupes.size:
        raise QAInputError(f"country {table['country'].iloc[dupes[0]]!r} appears twice", source=source,
                           row=int(dupes[0]) + 1, column="country")
    return table[["country", *coordinates]].reset_index(drop=True)


def default_lang_country(langs) -> pd.DataFrame:
    """An editable ``lang, country`` table for the given languages (unknown codes get an empty country)."""
    return pd.DataFrame({"lang": sorted(set(map(str, langs)))}).assign(
        country=lambda t: t["lang"].map(DEFAULT_LANG_COUNTRY).fillna(""))


def human_distance_matrix(cultural_map: pd.DataFrame, lang_country: pd.DataFrame,
                          langs=None) -> pd.DataFrame:
    """Euclidean distance between languages' cultural positions (labels sorted, zero diagonal).

    A language mapped to several countries (several rows of ``lang_country``) takes the mean of their
    positions. ``langs`` restricts the matrix to those languages (default: all in the mapping); each
    must be mapped to a country present in ``cultural_map``.
    """
    for col in ("lang", "country"):
        if col not in lang_country.columns:
            raise QAInputError("the language -> country mapping needs this column", source="lang->country",
                               column=col)
    mapping = lang_country.assign(lang=lang_country["lang"].astype(str).str.strip(),
                                  country=lang_country["country"].fillna("").astype(str).str.strip())
    wanted = sorted(set(map(str, langs))) if langs is not None else sorted(set(mapping["lang"]))
    mapping = mapping[mapping["country"] != ""]
    unmapped = [lang for lang in wanted if lang not in set(mapping["lang"])]
    if unmapped:
        raise QAInputError(f"no country given for language(s) {', '.join(unmapped)}", source="lang->country",
                           column="country")
    positions = cultural_map.set_index("country")
    coords = positions.columns
    rows = []
    for lang in wanted:
        countries = mapping.loc[mapping["lang"] == lang, "country"]
        unknown = [c for c in countries if c not in positions.index]
        if unknown:
            row = int(mapping.index[(mapping["lang"] == lang) & mapping["country"].isin(unknown)][0]) + 1
            raise QAInputError(f"country {unknown[0]!r} (language {lang!r}) is not in the cultural map",
                               source="lang->country", row=row, column="country")
        rows.append(positions.loc[list(countries), coords].to_numpy(dtype=float).mean(0))
    pos = np.stack(rows) if rows else np.zeros((0, len(coords)))
    dist = np.sqrt(((pos[:, None, :] - pos[None, :, :]) ** 2).sum(-1))
    out = pd.DataFrame(dist, index=wanted, columns=wanted)
    out.index.name = out.columns.name = "lang"
    return out


def rank_correlation(model_dm: pd.DataFrame, human_dm: pd.DataFrame, *, n_perm: int = 0,
                     seed: int = 0) -> dict:
    """Spearman rank correlation between two distance matrices over their shared labels' pairs.

    Returns rho, p_value (scipy's, two-sided), n_pairs and labels (the shared labels used). The
    pairs are not independent (each label appears in many), so scipy's p-value is optimistic; with
    ``n_perm > 0`` a Mantel test is added: ``mantel_p`` = share of random relabellings of one matrix
    whose |rho| reaches the observed |rho| (two-sided, (1 + count) / (1 + n_perm)).
    """
    shared = sorted(set(map(str, model_dm.index)) & set(map(str, human_dm.index)))
    if len(shared) < 3:
        raise ValueError(f"need at least 3 languages in both matrices to correlate; shared: {shared}")
    iu = np.triu_indices(len(shared), k=1)
    model = model_dm.loc[shared, shared].to_numpy(dtype=float)
    human = human_dm.loc[shared, shared].to_numpy(dtype=float)
    result = spearmanr(model[iu], human[iu])
    rho = float(result.statistic)
    out: dict = {"rho": rho, "p_value": float(result.pvalue), "n_pairs": int(iu[0].size), "labels": shared}
    if n_perm > 0:
        out["mantel_p"] = _mantel_p(model, human, iu, abs(rho), n_perm, seed)
    return out


def _mantel_p(model: np.ndarray, human: np.ndarray, iu, observed: float, n_perm: int, seed: int) -> float:
    """Permute the labels of ``human`` (rows and columns together); vectorised over permutations."""
    rng = np.random.default_rng(seed)
    k = len(model)
    perms = np.argsort(rng.random((n_perm, k)), axis=1)
    permuted = human[perms[:, :, None], perms[:, None, :]][:, iu[0], iu[1]]  # (n_perm, pairs)
    # Spearman = Pearson of (average-tie) ranks, as scipy computes the observed rho
    a = rankdata(model[iu])
    b = rankdata(permuted, axis=1)
    a = (a - a.mean()) / a.std()
    b = (b - b.mean(1, keepdims=True)) / b.std(1, keepdims=True)
    rhos = (b * a).mean(1)
    return float((1 + np.sum(np.abs(rhos) >= observed - 1e-12)) / (1 + n_perm))
