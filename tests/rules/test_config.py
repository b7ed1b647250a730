"""One loader for every policy file: the shipped files load, a typo at any depth names its key path."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from rules.config import ConfigError, _allowed_keys, key_paths, load_config
from rules.errors import UserError
from rules.ingest.headers import HeaderFile
from rules.matching.config import MatchConfig, _with_default_cap
from rules.matching.national import NationalPolicy
from rules.normalise.characters import CharacterTable
from rules.normalise.gender import GenderCodes
from rules.normalise.legacy import LegacyTables
from rules.normalise.phones import PhonePolicy
from rules.quota.policy import PolicyError, QuotaFile, QuotaPolicy
from rules.review.policy import ReviewPolicy, ReviewPolicyError
from rules.synth.harsh import HarshRates
from rules.synth.noise import NoiseRates
from rules.synth.writer import HeaderVariants
from rules.validate import ReasonsFile

ROOT = Path(__file__).resolve().parents[2]
SHIPPED: dict[str, type[BaseModel]] = {
    "rules/quota/quota.yaml": QuotaFile,
    "rules/review/review.yaml": ReviewPolicy,
    "rules/reasons.yaml": ReasonsFile,
    "rules/normalise/legacy_tables.yaml": LegacyTables,
    "rules/normalise/phone_prefixes.yaml": PhonePolicy,
    "rules/normalise/gender_codes.yaml": GenderCodes,
    "rules/normalise/characters.yaml": CharacterTable,
    "rules/headers/common.yaml": HeaderFile,
    "rules/headers/students.yaml": HeaderFile,
    "rules/headers/vaccinations.yaml": HeaderFile,
    "rules/headers/insurance.yaml": HeaderFile,
    "rules/synth/harsh_rates.yaml": HarshRates,
    "rules/second_pass.yaml": NationalPolicy,
    "rules/synth/noise_rates.yaml": NoiseRates,
    "rules/synth/header_variants.yaml": HeaderVariants,
    **{f"rules/matching/{p.name}": MatchConfig for p in sorted((ROOT / "rules" / "matching").glob("*.yaml"))},
}


def _load(path: Path, model: type[BaseModel]) -> BaseModel:
    prepare = _with_default_cap if model is MatchConfig else None
    return load_config(path, model, prepare=prepare)


def test_every_yaml_under_rules_is_covered_and_loads() -> None:
    on_disk = {str(p.relative_to(ROOT)) for p in (ROOT / "rules").rglob("*.yaml")}
    assert on_disk == set(SHIPPED)  # a new policy file needs a model here
    for rel, model in SHIPPED.items():
        assert isinstance(_load(ROOT / rel, model), model), rel


def _model_keys() -> list[tuple[str, tuple[str, ...]]]:
    """(file, key path) for every key of a shipped file that is a model field (not a free table key)."""
    out = []
    for rel, model in SHIPPED.items():
        data = yaml.safe_load((ROOT / rel).read_text(encoding="utf-8"))
        for path in key_paths(data):
            parent = tuple(int(p) if p.isdigit() else p for p in path[:-1])
            if path[-1] in _allowed_keys(model, parent):
                out.append((rel, path))
    return out


MODEL_KEYS = _model_keys()


def _set_sibling(data: object, path: tuple[str, ...], key: str) -> None:
    node = data
    for part in path[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    node[key] = node[path[-1]]


def test_the_property_below_sees_keys_at_every_depth() -> None:
    assert max(len(p) for _, p in MODEL_KEYS) >= 4  # e.g. comparisons.0.levels.1.when
    assert {rel for rel, _ in MODEL_KEYS} >= {"rules/quota/quota.yaml", "rules/synth/harsh_rates.yaml"}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(MODEL_KEYS), st.sampled_from(["_", "s", "x"]))
def test_a_typo_at_any_depth_fails_naming_the_file_and_key_path(tmp_path: Path, case, suffix: str) -> None:
    rel, path = case
    data = copy.deepcopy(yaml.safe_load((ROOT / rel).read_text(encoding="utf-8")))
    typo = path[-1] + suffix
    _set_sibling(data, path, typo)
    bad = tmp_path / Path(rel).name
    bad.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        _load(bad, SHIPPED[rel])
    message = str(info.value)
    assert message.startswith(f"{bad}: ")
    assert ".".join((*path[:-1], typo)) + ": unknown key" in message
    assert "\n" not in message and isinstance(info.value, UserError)


@pytest.mark.parametrize(
    ("rel", "edit", "needle"),
    [
        ("rules/quota/quota.yaml", {"national_daily_quota": "lots"}, "national_daily_quota: expected a whole number"),
        ("rules/quota/quota.yaml", {"ageing": {"per_day": "fast"}}, "ageing.per_day: expected a number"),
        ("rules/quota/quota.yaml", {"ageing": [1]}, "ageing: expected a mapping of keys"),
        ("rules/review/review.yaml", {"score_bins": [0.9, 0.5]}, "score_bins: must be an increasing list"),
        ("rules/review/review.yaml", {"prior_strength": -1}, "prior_strength: must be >= 0"),
        ("rules/normalise/gender_codes.yaml", {"text": {"nam": "Male"}}, "text.nam: expected one of 'Nam' or 'Nữ'"),
        ("rules/normalise/phone_prefixes.yaml", {"valid_second_digit": "3"}, "valid_second_digit: expected a list"),
        ("rules/synth/noise_rates.yaml", {"nfd": {"rate": 2}}, "nfd.rate: must be <= 1"),
        ("rules/reasons.yaml", {"sector_overrides": {"students": {"missing_name": "maybe"}}},
         "sector_overrides.students.missing_name: expected true or false"),
        ("rules/reasons.yaml", {"sector_overrides": {"student": {}}}, "sector_overrides.student: unknown key"),
        ("rules/reasons.yaml", {"sector_overrides": {"students": {"missing_nam": True}}},
         "sector_overrides.students: unknown reason code"),
        ("rules/synth/harsh_rates.yaml", {"levels": [{"errors": [2, 1], "share": 1.0}]},
         r"levels.0.errors: level range \[2, 1\] must be"),
    ],
)
def test_a_wrong_type_fails_clearly(tmp_path: Path, rel: str, edit: dict, needle: str) -> None:
    data = yaml.safe_load((ROOT / rel).read_text(encoding="utf-8"))
    for key, value in edit.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict) and key != "ageing":
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    bad = tmp_path / Path(rel).name
    bad.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match=needle):
        _load(bad, SHIPPED[rel])


def test_the_domain_errors_are_config_errors_and_defaults_live_once() -> None:
    assert issubclass(PolicyError, ConfigError) and issubclass(ReviewPolicyError, ConfigError)
    # a file with only the required key gets the model's defaults, the same as the dataclass's
    assert QuotaPolicy.from_dict({"national_daily_quota": 7}) == QuotaPolicy(quota=7)
    assert ReviewPolicy.from_dict({}) == ReviewPolicy()


def test_shipped_files_are_named_relative_to_the_repository(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^rules/quota/quota\.yaml: national_daily_quota: missing"):
        from rules.config import validate_config

        validate_config({}, QuotaFile, source="rules/quota/quota.yaml")
    assert str(load_config(ROOT / "rules/quota/quota.yaml", QuotaFile).national_daily_quota) == "200000"
