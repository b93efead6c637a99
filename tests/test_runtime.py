"""Reduced precision only where the hardware has it: native bf16 detection (from faked
/proc/cpuinfo text, ISA capability and environment, never the machine's own) and the
resolution of ``train.amp`` (true, false, auto), down to the weights an ``auto`` run trains."""

from __future__ import annotations

import json

import pytest
import torch

from genzoo import runtime
from genzoo.config import resolve_config
from genzoo.errors import ConfigError
from genzoo.runs import train
from genzoo.training.checkpoint import load_checkpoint

ZEN3 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 avx f16c fma avx2 bmi2 sha_ni vaes
processor\t: 1
flags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 avx f16c fma avx2 bmi2 sha_ni vaes
"""
SKYLAKE = ZEN3.replace("vaes", "avx512f avx512bw avx512vl avx512_vnni")  # AVX-512, no BF16
COOPER_LAKE = SKYLAKE.replace("avx512_vnni", "avx512_vnni avx512_bf16")
SAPPHIRE_RAPIDS = COOPER_LAKE.replace("avx512_bf16", "avx512_bf16 amx_bf16 amx_tile")
ARM = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes sha1 sha2 crc32 bf16\n"


def support(cpuinfo, capability="AVX512", fallback=frozenset(), **env):
    return runtime.cpu_bf16_support(cpuinfo, capability, env, lambda: set(fallback))


def test_cpuinfo_flags_are_the_first_flags_line():
    flags = runtime.cpuinfo_flags(SAPPHIRE_RAPIDS)
    assert {"avx2", "avx512f", "avx512_bf16", "amx_bf16"} <= flags and "processor" not in flags
    assert runtime.cpuinfo_flags(ARM) == set() and runtime.cpuinfo_flags("") == set()


@pytest.mark.parametrize("cpuinfo, native", [(ZEN3, False), (SKYLAKE, False), (ARM, False),
                                             (COOPER_LAKE, True), (SAPPHIRE_RAPIDS, True)])
def test_native_bf16_needs_the_avx512_bf16_or_amx_bf16_flag(cpuinfo, native):
    ok, why = support(cpuinfo)
    assert ok is native
    assert why == ("this CPU has native bf16 (avx512_bf16)" if native
                   else "this CPU has no native bf16")


@pytest.mark.parametrize("env, word", [({"ATEN_CPU_CAPABILITY": "avx2"}, "ATEN_CPU_CAPABILITY"),
                                       ({"ATEN_CPU_CAPABILITY": "default"}, "ATEN_CPU_CAPABILITY"),
                                       ({"ONEDNN_MAX_CPU_ISA": "AVX2"}, "ONEDNN_MAX_CPU_ISA"),
                                       ({"ONEDNN_MAX_CPU_ISA": "avx512_core"}, "oneDNN")])
def test_limits_below_the_bf16_kernels_switch_native_bf16_off(env, word):
    ok, why = support(SAPPHIRE_RAPIDS, **env)
    assert not ok and word in why


@pytest.mark.parametrize("env", [{"ATEN_CPU_CAPABILITY": "avx512"},
                                 {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16"},
                                 {"ONEDNN_MAX_CPU_ISA": "ALL"}])
def test_limits_at_or_above_the_bf16_kernels_keep_it(env):
    assert support(COOPER_LAKE, **env)[0]


def test_kernels_dispatched_below_avx512_have_no_native_bf16():
    """The capability ATen dispatches to (torch.backends.cpu.get_cpu_capability()) bounds it
    too, e.g. a PyTorch build or a limit that runs an AVX512-BF16 CPU at AVX2."""
    ok, why = support(COOPER_LAKE, capability="AVX2")
    assert not ok and "AVX2" in why


def test_without_proc_cpuinfo_pytorchs_own_probes_decide():
    assert support(None, fallback={"avx512_bf16"}) == (True,
                                                       "this CPU has native bf16 (avx512_bf16)")
    assert support(None, fallback={"amx_bf16"})[0]
    assert not support(None)[0]
    assert not support(None, capability="DEFAULT", fallback={"amx_bf16"})[0]
    called = []
    runtime.cpu_bf16_support(ZEN3, "AVX2", {}, lambda: called.append(1) or set())
    assert not called  # /proc/cpuinfo, where there is one, is what counts


@pytest.fixture
def fresh_cache():
    runtime.bf16_support.cache_clear()
    yield
    runtime.bf16_support.cache_clear()


def test_the_cpu_answer_reads_proc_cpuinfo_once_and_is_cached(monkeypatch, fresh_cache):
    reads = []
    monkeypatch.setattr(runtime, "_read_cpuinfo", lambda: reads.append(1) or COOPER_LAKE)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    monkeypatch.delenv("ATEN_CPU_CAPABILITY", raising=False)
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    assert runtime.native_bf16(torch.device("cpu")) and runtime.native_bf16(torch.device("cpu"))
    assert reads == [1]
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    runtime.bf16_support.cache_clear()
    assert not runtime.native_bf16("cpu")


def test_devices_other_than_cuda_and_cpu_have_no_native_bf16(fresh_cache):
    assert not runtime.native_bf16(torch.device("meta"))
    if not torch.cuda.is_available():
        assert runtime.bf16_support("cuda") == (False, "no CUDA device")


def native(flag: bool):
    """A stand-in for runtime.bf16_support that answers ``flag`` for every device."""
    return lambda device: (flag, "this CPU has native bf16 (amx_bf16)" if flag
                           else "this CPU has no native bf16")


@pytest.mark.parametrize("request_, has, dtype, line", [
    (False, True, torch.float32, "train.amp=false -> float32 (autocast off)"),
    (True, True, torch.bfloat16, "train.amp=true -> bf16 (this CPU has native bf16 (amx_bf16))"),
    (True, False, torch.bfloat16, "train.amp=true -> bf16 (forced, though this CPU has no "
                                  "native bf16: expect it to be slower than float32)"),
    ("auto", True, torch.bfloat16, "train.amp=auto -> bf16 (this CPU has native bf16 "
                                   "(amx_bf16))"),
    ("auto", False, torch.float32, "train.amp=auto -> float32 (this CPU has no native bf16; "
                                   "train.amp=true forces bf16)"),
])
def test_bf16_requests_resolve_by_native_support(monkeypatch, request_, has, dtype, line):
    monkeypatch.setattr(runtime, "bf16_support", native(has))
    p = runtime.resolve_precision(request_, "bf16", torch.device("cpu"))
    assert p.dtype == dtype and p.autocast == (dtype != torch.float32) and str(p) == line


def test_fp16_auto_is_cuda_only_and_the_key_names_the_setting(monkeypatch):
    monkeypatch.setattr(runtime, "bf16_support", native(True))  # not asked about fp16
    cpu = runtime.resolve_precision("auto", "fp16", "cpu")
    assert not cpu.autocast and cpu.reason == "fp16 autocast needs a CUDA device"
    gpu = runtime.resolve_precision("auto", "fp16", torch.device("cuda"))
    assert gpu.dtype == torch.float16 and gpu.name == "fp16"
    chains = runtime.resolve_precision("auto", "bf16", "cpu", key="model.runtime.precision")
    assert str(chains).startswith("model.runtime.precision=auto -> bf16")
    with pytest.raises(ValueError, match="expected true, false or auto"):
        runtime.resolve_precision("sometimes", "bf16", "cpu")


def test_train_amp_takes_auto_besides_true_and_false():
    assert resolve_config("clf-digits").train.amp is False  # the default stays off
    assert resolve_config("clf-digits", ["train.amp=auto"]).train.amp == "auto"
    assert resolve_config("clf-digits", ["train.amp=true"]).train.amp is True
    assert resolve_config("simsiam-fashion").train.amp == "auto"
    with pytest.raises(ConfigError, match="train.amp: expected bool or one of 'auto'"):
        resolve_config("clf-digits", ["train.amp=sometimes"])


STEPS = ["train.steps=3", "train.device=cpu", "train.log_every=1"]


def _weights(run):
    return load_checkpoint(run / "checkpoints" / "last.pt")["model"]


def _events(run):
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if r.get("event") == "precision"]


def test_auto_without_native_bf16_trains_the_float32_weights(tmp_path, monkeypatch, capsys):
    """train.amp=auto on a CPU without native bf16 (detection faked, so on any CPU) runs the
    float32 step: the very weights of train.amp=false, and says why, once, on stderr and in
    metrics.jsonl. fp16 under auto leaves a CPU in float32 too, where true would refuse."""
    monkeypatch.setattr(runtime, "bf16_support", native(False))
    off = train("clf-digits", STEPS, runs_dir=tmp_path / "off", quiet=True)
    auto = train("clf-digits", [*STEPS, "train.amp=auto"], runs_dir=tmp_path / "auto")
    fp16 = train("clf-digits", [*STEPS, "train.amp=auto", "train.amp_dtype=fp16"],
                 runs_dir=tmp_path / "fp16", quiet=True)
    base = _weights(off)
    for run in (auto, fp16):
        assert all(torch.equal(base[k], _weights(run)[k]) for k in base)
    line = "train.amp=auto -> float32 (this CPU has no native bf16; train.amp=true forces bf16)"
    assert capsys.readouterr().err.count(f"genzoo: {line}\n") == 1
    assert [(e["step"], e["reason"], e["amp"], e["dtype"]) for e in _events(auto)] == \
        [(0, line, "auto", "float32")]
    assert _events(off) == []  # train.amp=false: nothing was decided, nothing logged


def test_auto_with_native_bf16_is_the_forced_bf16_step(tmp_path, monkeypatch):
    monkeypatch.setattr(runtime, "bf16_support", native(True))
    forced = train("clf-digits", [*STEPS, "train.amp=true"], runs_dir=tmp_path / "a", quiet=True)
    auto = train("clf-digits", [*STEPS, "train.amp=auto"], runs_dir=tmp_path / "b", quiet=True)
    wf, wa = _weights(forced), _weights(auto)
    assert all(torch.equal(wf[k], wa[k]) for k in wf)
    assert _events(auto)[0]["dtype"] == "bf16"
