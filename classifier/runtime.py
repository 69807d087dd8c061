"""Where the model runs and in which precision, decided once at start-up.

The choice is a pure function of a few hardware facts and the overrides, so it can be tested
without the hardware; `detect_runtime` gathers the facts. Overrides, strongest first: arguments,
then `CLASSIFIER_DEVICE` (auto|cpu|cuda, default auto) and `CLASSIFIER_DTYPE`
(auto|float32|bfloat16|float16, default auto).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from classifier.exceptions import ConfigurationError

DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("auto", "float32", "bfloat16", "float16")
# CPU flags that mean bf16 matrix multiplies beat fp32 (AMX tiles, or AVX-512 BF16 dot products).
FAST_BF16_CPU_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})


@dataclass(frozen=True)
class Runtime:
    device: str
    dtype: str


def env_choice(name: str, allowed: tuple[str, ...], default: str) -> str:
    """Read an enumerated setting; a typo fails loudly instead of silently meaning "auto"."""
    value = os.environ.get(name, "").strip().lower() or default
    if value not in allowed:
        raise ConfigurationError(f"{name}={value!r} is not one of {', '.join(allowed)}")
    return value


def choose_device(requested: str, *, cuda_available: bool) -> str:
    if requested not in DEVICES:
        raise ConfigurationError(f"device {requested!r} is not one of {', '.join(DEVICES)}")
    if requested == "auto":
        return "cuda" if cuda_available else "cpu"
    if requested == "cuda" and not cuda_available:
        raise ConfigurationError("device 'cuda' was requested but torch sees no CUDA device")
    return requested


def choose_dtype(requested: str, *, device: str, cuda_bf16: bool, cpu_fast_bf16: bool) -> str:
    if requested not in DTYPES:
        raise ConfigurationError(f"dtype {requested!r} is not one of {', '.join(DTYPES)}")
    if requested != "auto":
        return requested
    if device == "cuda":
        # fp16 has the narrower range, so it is only the fallback on GPUs without bf16.
        return "bfloat16" if cuda_bf16 else "float16"
    # Without bf16 matrix units, bf16 on a CPU is emulated and slower than fp32.
    return "bfloat16" if cpu_fast_bf16 else "float32"


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    try:
        text = cpuinfo.read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def cpu_name(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's name with its family and model: one name ("AMD EPYC") covers several generations."""
    fields: dict[str, str] = {}
    try:
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    name = fields.get("model name", "unknown CPU")
    return f"{name} (family {fields.get('cpu family', '?')}, model {fields.get('model', '?')})"


def cpu_has_fast_bf16(flags: frozenset[str], *, torch_reports: bool = False) -> bool:
    """True when /proc/cpuinfo lists a fast bf16 unit, or torch's own probe found one."""
    return bool(flags & FAST_BF16_CPU_FLAGS) or torch_reports


def _torch_reports_fast_bf16() -> bool:
    # Private probes, used only where /proc/cpuinfo is absent (macOS, some containers).
    import torch

    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)


def detect_runtime(device: str | None = None, dtype: str | None = None) -> Runtime:
    import torch

    requested_device = device or env_choice("CLASSIFIER_DEVICE", DEVICES, "auto")
    requested_dtype = dtype or env_choice("CLASSIFIER_DTYPE", DTYPES, "auto")
    chosen_device = choose_device(requested_device, cuda_available=torch.cuda.is_available())
    cuda_bf16 = chosen_device == "cuda" and torch.cuda.is_bf16_supported()
    flags = cpu_flags()
    fast_bf16 = cpu_has_fast_bf16(flags, torch_reports=not flags and _torch_reports_fast_bf16())
    chosen_dtype = choose_dtype(requested_dtype, device=chosen_device, cuda_bf16=cuda_bf16, cpu_fast_bf16=fast_bf16)
    return Runtime(device=chosen_device, dtype=chosen_dtype)
