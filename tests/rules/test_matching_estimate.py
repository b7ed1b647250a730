"""Parameter estimation: EM converges, stays within its bounds, small files keep the start values,
estimates are cached per data version in our cache folder, and the chart and table show them."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from rules.matching import MatchConfig, build_population_index, match_records, match_weights_svg
from rules.matching.estimate import (
    PairLevels,
    data_version,
    default_start,
    record_posteriors,
    run_em,
    start_estimates,
)

config = MatchConfig.default()


@pytest.fixture(scope="module")
def generated():
    """A dev-seed register and upload from our generator (never the benchmark's seeds)."""
    from rules.normalise import normalise_records
    from rules.synth import generate_register, generate_sector_records

    reg = generate_register("ho_chi_minh", 20_000, 501)
    raw, truth = generate_sector_records(reg, "students", 2_000, 502)
    return build_population_index(reg), normalise_records(raw, "students"), truth


def test_em_converges_and_moves_m_away_from_the_start_on_real_volume(generated, tmp_path):
    index, recs, _ = generated
    out = match_records(recs, index, cache_dir=tmp_path)
    est = out.estimates
    assert est.converged and 1 <= est.iterations <= config.estimation.max_iterations
    # the share of records whose person is in the register is learnt (the generator puts most in)
    lo, hi = config.estimation.share_bounds
    assert lo <= est.match_share <= hi and est.match_share > 0.5
    # EM history settles: the last steps change the share by less than the tolerance
    assert abs(est.history[-1] - est.history[-2]) < 1e-3 if len(est.history) > 1 else True
    start = {c.name: default_start(c)[0] for c in config.comparisons}
    moved = max(float(np.max(np.abs(est.m[c.name] - start[c.name]))) for c in config.comparisons)
    assert moved > 0.01
    for c in config.comparisons:
        m = est.m[c.name]
        assert np.isclose(m.sum(), 1.0) and (m >= config.estimation.m_bounds[0] * 0.99).all()
        assert (est.u[c.name] > 0).all() and (est.u[c.name] < 1).all()


def test_estimates_are_cached_per_data_version(generated, tmp_path):
    index, recs, _ = generated
    first = match_records(recs, index, cache_dir=tmp_path)
    files = list(tmp_path.glob("estimates_*.json"))
    assert len(files) == 1 and not first.estimates.from_cache
    again = match_records(recs, index, cache_dir=tmp_path)
    assert again.estimates.from_cache and again.stats["estimates_from_cache"] == 1
    assert again.results.equals(first.results)
    other = match_records(recs.head(500), index, cache_dir=tmp_path)
    assert not other.estimates.from_cache and len(list(tmp_path.glob("estimates_*.json"))) == 2
    assert data_version(recs.head(3), index, config) != data_version(recs.head(4), index, config)


def test_em_bounds_hold_for_an_absurd_file():
    """Every candidate pair disagrees on everything: m must stay within its bounds, the share within
    its bounds, and no level may reach probability 0 or 1."""
    n_rec = 1000
    rid = np.repeat(np.arange(n_rec), 3)
    levels = {c.name: np.full(len(rid), -1, dtype=np.int16) for c in config.comparisons}
    est0 = start_estimates(config, 1_000_000)
    pairs = PairLevels(rid, levels, np.zeros(len(rid)))
    est = run_em(pairs, n_rec, est0, config)
    lo, hi = config.estimation.m_bounds
    for c in config.comparisons:
        assert (est.m[c.name] >= lo * 0.99).all() and (est.m[c.name] <= hi).all()
    s_lo, s_hi = config.estimation.share_bounds
    assert s_lo <= est.match_share <= s_hi


def test_a_small_file_keeps_nearly_the_start_values():
    n_rec = 3
    rid = np.arange(n_rec)
    levels = {c.name: np.zeros(n_rec, dtype=np.int16) for c in config.comparisons}
    est0 = start_estimates(config, 10_000)
    est = run_em(PairLevels(rid, levels, np.full(n_rec, 30.0)), n_rec, est0, config)
    for c in config.comparisons:
        start = default_start(c)[0]
        assert np.max(np.abs(est.m[c.name] - start)) < 0.1  # 3 records against 50 pseudo-matches


def test_record_posteriors_compete_within_a_record():
    rid = np.array([0, 0, 1])
    lr = np.array([40.0, 40.0, 40.0])
    post, any_ = record_posteriors(rid, lr, 0.9, 1000)
    assert np.isclose(post[0], post[1]) and post[0] < 0.5 + 1e-9  # twins tie: neither above 1/2
    assert post[2] > 0.999
    assert np.allclose(any_, [post[0] + post[1], post[2]])


def test_mapping_only_config_gets_default_start_values():
    cfg = MatchConfig.from_dict(
        {
            "name": "x",
            "prepare": "generic",
            "passes": [{"name": "a", "record_keys": ["a"]}],
            "comparisons": [
                {"name": "a", "levels": [{"label": "exact", "when": "exact", "column": "a"},
                                         {"label": "close", "when": "jw", "column": "a", "arg": 0.9}]}
            ],
        }
    )
    m, u = default_start(cfg.comparisons[0])
    assert np.isclose(m.sum(), 1) and np.isclose(u.sum(), 1)
    assert m[0] > m[1] > 0 and m[-1] > 0 and u[0] < u[1] < u[-1]


@pytest.mark.parametrize(
    ("patch", "where"),
    [
        ({"estimation": {"m_strenght": 3}}, "estimation.m_strenght"),
        ({"comparisons": [{"name": "a", "levels": [{"label": "x", "when": "exact", "mm": 0.3}]}]},
         "comparisons.0.levels.0.mm"),
        ({"comparisons": [{"name": "a", "levels": [{"label": "x", "when": "nope"}]}]}, "comparisons.0.levels.0.when"),
    ],
)
def test_config_errors_name_the_key_path(patch, where):
    base = {"name": "x", "passes": [], "comparisons": []}
    with pytest.raises(ValueError, match=where.replace(".", r"\.")):
        MatchConfig.from_dict(base | patch)


def test_estimates_table_and_chart(generated, tmp_path):
    index, recs, _ = generated
    with_prior = config.model_copy(
        update={"estimation": config.estimation.model_copy(update={"year_prior_column": "yr"})}
    )
    est = match_records(recs.head(300), index, with_prior).estimates
    frame = est.to_frame(config)
    assert frame.columns == ["comparison", "level", "m", "u", "match_weight", "u_source"]
    assert frame.height == sum(len(c.levels) + 1 for c in config.comparisons)
    md = est.to_markdown(config)
    assert "| given | exact |" in md
    svg = match_weights_svg(est, config)
    # + the share / N prior and, per stratum (the sector) and for all rows, the birth-year prior's
    # highest and lowest year
    assert est.prior_years is not None and len(est.prior_years) > 1
    assert est.prior_strata == sorted(set(recs.head(300)["sector"].to_list()))
    table = np.atleast_2d(est.year_log2)
    assert table.shape == (len(est.prior_strata) + 1, len(est.prior_years))
    bars = sum(len({int(r.argmax()), int(r.argmin())}) for r in table)
    assert svg.startswith("<svg") and svg.count("<rect") == frame.height + 1 + bars
    assert md.count("birth-year prior") == table.shape[0]
    # no personal data: only labels and numbers
    names = set(recs["full_name"].drop_nulls().to_list()[:50])
    assert not any(n in svg or n in md for n in names)


def test_dev_seed_accuracy(generated):
    """Our generator with a dev seed (no parameter is fitted to it): precision and recall hold."""
    index, recs, truth = generated
    out = match_records(recs, index)
    pred, true = out.results["person_id"], truth["person_id"]
    tp = int((pred == true).fill_null(False).sum())
    assert tp / max(int(pred.is_not_null().sum()), 1) >= 0.995
    assert tp / int(true.is_not_null().sum()) >= 0.95
    assert isinstance(out.results, pl.DataFrame)


def test_labelled_pairs_move_m_toward_the_reviewers_decisions():
    from rules.matching.estimate import with_labelled_pairs

    est0 = start_estimates(config, 100_000)
    n = 200
    levels = {c.name: np.full(n, -2, dtype=np.int16) for c in config.comparisons}
    levels["middle"] = np.full(n, -1, dtype=np.int16)  # reviewers confirm: a different middle name
    est = with_labelled_pairs(est0, config, levels, np.ones(n, dtype=bool))
    assert est.m["middle"][-1] > est0.m["middle"][-1] * 2
    assert np.isclose(est.m["middle"].sum(), 1.0)
    assert np.allclose(est.m["given"], est0.m["given"])  # missing levels teach nothing


def _em_on_pairs(pairs: PairLevels, n_records: int, est, cfg: MatchConfig):
    """Reference EM over every pair (the engine before pattern aggregation): (m, share, history)."""
    from rules.matching.estimate import sum_log2_m

    opt = cfg.estimation
    m = {k: v.copy() for k, v in est.m.items()}
    start = {c.name: default_start(c)[0] for c in cfg.comparisons}
    share, history = est.match_share, []
    for _ in range(opt.max_iterations):
        work = type(est)(m, est.u, est.u_source, share, est.n_index, est.u_year)
        post, _ = record_posteriors(pairs.rid, sum_log2_m(pairs, work, cfg) + pairs.fixed_log2, share, est.n_index)
        new_m, delta = {}, 0.0
        for c in cfg.comparisons:
            n_lv = len(c.levels)
            if c.fixed:
                new_m[c.name] = m[c.name]
                continue
            lvl = pairs.levels[c.name]
            ok = lvl != -2
            idx = np.where(lvl[ok] == -1, n_lv, lvl[ok]).astype(np.int64)
            counts = np.bincount(idx, weights=post[ok], minlength=n_lv + 1)
            mm = (counts + opt.m_strength * start[c.name]) / (counts.sum() + opt.m_strength)
            mm = np.clip(mm, *opt.m_bounds)
            mm /= mm.sum()
            delta = max(delta, float(np.max(np.abs(mm - m[c.name]))))
            new_m[c.name] = mm
        new_share = (post.sum() + opt.share_strength * opt.match_share) / (n_records + opt.share_strength)
        new_share = float(np.clip(new_share, *opt.share_bounds))
        delta = max(delta, abs(new_share - share))
        m, share = new_m, new_share
        history.append(share)
        if delta < opt.tolerance:
            break
    return m, share, history


def _assert_same_fit(pairs, n_records, est0, cfg):
    got = run_em(pairs, n_records, est0, cfg)
    m, share, history = _em_on_pairs(pairs, n_records, est0, cfg)
    assert got.iterations == len(history) > 1
    assert 0.1 < got.match_share < 0.99  # not stuck at a bound: the posteriors carry the fit
    assert np.allclose(got.history, history, rtol=0, atol=1e-9)
    assert abs(got.match_share - share) < 1e-9
    for c in cfg.comparisons:
        assert np.allclose(got.m[c.name], m[c.name], rtol=0, atol=1e-9), c.name
        assert got.u[c.name] is est0.u[c.name]  # EM never touches u


def test_em_on_level_patterns_equals_em_on_every_pair(generated, monkeypatch, tmp_path):
    """The pattern-table EM of a real run (the pairs the engine hands to run_em) gives the m, u,
    match share and iterations of the plain per-pair EM."""
    import rules.matching.engine as engine

    seen = []

    def spy(pairs, n_records, est, cfg):
        seen.append((pairs, n_records, est))
        return run_em(pairs, n_records, est, cfg)

    monkeypatch.setattr(engine, "run_em", spy)
    index, recs, _ = generated
    match_records(recs, index)
    (pairs, n_records, est0), = seen
    assert len(pairs.rid) > n_records  # several candidates per record: the posteriors compete
    _assert_same_fit(pairs, n_records, est0, config)


def test_em_on_level_patterns_with_missing_levels_and_fixed_comparisons():
    """Synthetic pairs with missing levels, a fixed comparison and per-pair term frequencies."""
    raw = config.raw
    raw["comparisons"] = [{**raw["comparisons"][0], "fixed": True}, *raw["comparisons"][1:]]
    cfg = MatchConfig.from_dict(raw)
    rng = np.random.default_rng(7)
    n_rec = 3000
    rid = np.sort(rng.integers(0, n_rec, 12_000))
    true = rng.random(len(rid)) < 0.3  # pairs that agree like matches do
    levels = {}
    for c in cfg.comparisons:
        n_lv = len(c.levels)
        agree = np.where(rng.random(len(rid)) < 0.9, 0, rng.integers(-2, n_lv, len(rid)))
        other = rng.integers(-2, n_lv, len(rid))
        levels[c.name] = np.where(true, agree, other).astype(np.int16)
    # the u part of the weights (term frequencies vary per pair): strong for the agreeing pairs
    fixed = np.where(true, rng.normal(25.0, 3.0, len(rid)), rng.normal(-5.0, 4.0, len(rid)))
    pairs = PairLevels(rid, levels, fixed)
    _assert_same_fit(pairs, n_rec, start_estimates(cfg, 200_000), cfg)
