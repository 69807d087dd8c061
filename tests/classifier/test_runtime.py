from __future__ import annotations

from pathlib import Path

import pytest

from classifier.exceptions import ConfigurationError
from classifier.runtime import (
    choose_device,
    choose_dtype,
    cpu_flags,
    cpu_has_fast_bf16,
    env_choice,
)


def test_it_picks_bf16_on_a_cuda_device_that_supports_it() -> None:
    assert choose_dtype("auto", device="cuda", cuda_bf16=True, cpu_fast_bf16=False) == "bfloat16"


def test_it_falls_back_to_fp16_on_an_older_cuda_device() -> None:
    assert choose_dtype("auto", device="cuda", cuda_bf16=False, cpu_fast_bf16=True) == "float16"


def test_it_picks_bf16_on_a_cpu_with_fast_bf16_units() -> None:
    assert choose_dtype("auto", device="cpu", cuda_bf16=False, cpu_fast_bf16=True) == "bfloat16"


def test_it_keeps_fp32_on_a_cpu_without_fast_bf16_units() -> None:
    assert choose_dtype("auto", device="cpu", cuda_bf16=False, cpu_fast_bf16=False) == "float32"


def test_an_explicit_dtype_wins_over_detection() -> None:
    assert choose_dtype("float32", device="cuda", cuda_bf16=True, cpu_fast_bf16=True) == "float32"


def test_it_rejects_an_unknown_dtype() -> None:
    with pytest.raises(ConfigurationError, match="int4"):
        choose_dtype("int4", device="cpu", cuda_bf16=False, cpu_fast_bf16=False)


def test_auto_device_follows_cuda_availability() -> None:
    assert choose_device("auto", cuda_available=True) == "cuda"
    assert choose_device("auto", cuda_available=False) == "cpu"


def test_it_refuses_cuda_when_there_is_none() -> None:
    with pytest.raises(ConfigurationError, match="cuda"):
        choose_device("cuda", cuda_available=False)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [({"avx2", "amx_bf16"}, True), ({"avx512_bf16"}, True), ({"avx2", "avx512f"}, False)],
)
def test_it_reads_fast_bf16_from_cpu_flags(flags: set[str], expected: bool) -> None:
    assert cpu_has_fast_bf16(frozenset(flags)) is expected


def test_torch_probe_counts_when_cpuinfo_has_no_flags() -> None:
    assert cpu_has_fast_bf16(frozenset(), torch_reports=True)


def test_it_parses_the_flags_line_of_cpuinfo(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 amx_bf16\n")
    assert cpu_flags(cpuinfo) == frozenset({"fpu", "avx2", "amx_bf16"})
    assert cpu_flags(tmp_path / "missing") == frozenset()


def test_env_override_is_read_and_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLASSIFIER_DTYPE", "BFloat16")
    assert env_choice("CLASSIFIER_DTYPE", ("auto", "bfloat16"), "auto") == "bfloat16"
    monkeypatch.setenv("CLASSIFIER_DTYPE", "fp8")
    with pytest.raises(ConfigurationError, match="CLASSIFIER_DTYPE"):
        env_choice("CLASSIFIER_DTYPE", ("auto", "bfloat16"), "auto")


def test_env_default_applies_when_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLASSIFIER_DEVICE", raising=False)
    assert env_choice("CLASSIFIER_DEVICE", ("auto", "cpu"), "auto") == "auto"


def test_the_cpu_name_carries_its_family_and_model(tmp_path) -> None:
    from classifier.runtime import cpu_name

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\ncpu family\t: 26\nmodel\t\t: 2\nmodel name\t: AMD EPYC\n\n"
        "processor\t: 1\ncpu family\t: 26\nmodel\t\t: 2\nmodel name\t: AMD EPYC\n"
    )
    assert cpu_name(cpuinfo) == "AMD EPYC (family 26, model 2)"
    assert cpu_name(tmp_path / "missing") == "unknown CPU (family ?, model ?)"
