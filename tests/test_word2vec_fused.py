"""The fused skip-gram blocks (triton) against the torch blocks they replace: same updates for the same noise words.

On a CPU triton's interpreter runs the kernels; each check runs in its own process, as the interpreter is chosen
when triton is first imported (a CUDA test in the same process needs the compiled kernels).
"""

import subprocess
import sys
import textwrap

import pytest

from embedkit import word2vec_fused
from embedkit.word2vec import Word2VecConfig

# Trains the same model twice from the same seed, graph=True with and without fused, and prints the largest
# differences. Corpus: two Wikipedia articles, 2,000 words; dims and noise counts that are no power of two
# (the kernels pad them), and blocks that do not divide the pairs evenly (spare rows).
FUSED_VS_TORCH = """
import sys, torch
from embedkit.corpora import wikipedia_sentences
from embedkit.vocab import Vocabulary
from embedkit.word2vec import Word2Vec, Word2VecConfig
device, dim, negative = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sentences = wikipedia_sentences()[:2]
vocab = Vocabulary.build(sentences, 1)
ids, sentence = vocab.encode(sentences)
models, histories = [], []
for fused in (False, True):
    config = Word2VecConfig(dim=dim, negative=negative, epochs=2, graph=True, fused=fused, min_count=1, block=61,
                            seed=3)
    models.append(Word2Vec(vocab, config, device))
    histories.append(models[-1].train(ids, sentence))
a, b = models
print((a.w_in - b.w_in).abs().max().item(), (a.w_out - b.w_out).abs().max().item(), a.w_out.abs().max().item())
for x, y in zip(histories[0], histories[1]):
    print(x["loss"], y["loss"], x["examples"], y["examples"])
"""


def run(script: str, *args: str) -> list[list[float]]:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script), *args], capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    return [[float(v) for v in line.split()] for line in done.stdout.strip().splitlines()]


@pytest.mark.parametrize("dim, negative", [(20, 5), (33, 8)])
def test_fused_blocks_update_as_the_torch_blocks(device, dim, negative):
    """Same seed, so the same noise words: the vectors agree to float rounding (the order in which atomic adds and
    index_add_ sum), the losses to it, the example counts exactly; and training moved the vectors."""
    pytest.importorskip("triton")
    (d_in, d_out, scale), *epochs = run(FUSED_VS_TORCH, device, str(dim), str(negative))
    assert scale > 1e-3  # output vectors start at 0: they learned something
    tolerance = 1e-7 if device == "cpu" else 1e-5  # CUDA's atomic adds and index_add_ sum in no fixed order
    assert d_in < tolerance and d_out < tolerance, (d_in, d_out)
    assert len(epochs) == 2
    for loss, fused_loss, examples, fused_examples in epochs:
        # on CUDA exp, log and sigmoid are fast approximations: the losses agree less closely
        assert fused_loss == pytest.approx(loss, rel=1e-6 if device == "cpu" else 1e-5)
        assert fused_examples == examples > 8_000


def test_fused_is_for_graph_skip_gram_with_a_draw_per_pair():
    assert Word2VecConfig(graph=True, fused=True).fused
    for bad in (dict(), dict(graph=True, sg=False), dict(graph=True, shared_negatives=True),
                dict(graph=True, pairs_per_draw=4)):
        with pytest.raises(ValueError, match="fused=True fuses the blocks of graph=True skip-gram"):
            Word2VecConfig(fused=True, **bad)
    with pytest.raises(ValueError, match="fused must be True or False"):
        Word2VecConfig(graph=True, fused="yes")


def test_without_triton_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setattr(word2vec_fused, "_KERNELS", {})
    for name in ("triton", "triton.language", "triton.runtime.interpreter"):
        monkeypatch.setitem(sys.modules, name, None)  # an import of it raises ImportError
    with pytest.raises(ImportError, match="fused=True needs triton .*pip install triton"):
        word2vec_fused.kernels(interpret=True)


def test_interpreter_and_compiled_kernels_do_not_mix():
    """triton fixes at its import whether its library runs interpreted: a CPU run after a GPU-style import (and a
    GPU run in a process that set TRITON_INTERPRET=1) is an error that says so, not a failure deep in triton."""
    pytest.importorskip("triton")
    script = """
    import sys, triton.language
    from embedkit import word2vec_fused
    try:
        word2vec_fused.kernels(interpret=sys.argv[1] == "cpu")
    except RuntimeError as err:
        print(1 if "TRITON_INTERPRET=1" in str(err) else 0)
    """
    assert run(script, "cpu") == [[1.0]]
    interpreted = subprocess.run([sys.executable, "-c", textwrap.dedent(script), "cuda"], capture_output=True,
                                 text=True, timeout=120, env={**__import__("os").environ, "TRITON_INTERPRET": "1"})
    assert interpreted.stdout.strip() == "1", interpreted.stderr[-2000:]


def test_the_kernels_compile_for_an_h200_without_one():
    """triton's interpreter runs code the GPU compiler would refuse; here triton compiles both kernels, as on
    CUDA, down to a cubin for sm_90 (the H200 the device check runs on), with no GPU present."""
    pytest.importorskip("triton")
    script = """
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
    from embedkit import word2vec_fused
    floats = {"w_in", "w_out", "rates", "h_buf", "gh_buf", "g_buf"}
    sizes = {"K": 5, "DIM": 100, "PAIRS": 4, "BLOCK_K": 8, "BLOCK_D": 128}
    for kernel in word2vec_fused.kernels(interpret=False):
        names = kernel.arg_names
        signature = {a: "constexpr" if a in sizes else "*fp32" if a in floats else "*fp64" if a == "loss_buf"
                     else "i32" if a in ("n", "n_blocks", "rows") else "*i64" for a in names}
        constants = {(names.index(a),): v for a, v in sizes.items() if a in names}
        # torch's tensors are 16-byte aligned, which the JIT tells the compiler as here
        aligned = {(i,): [["tt.divisibility", 16]] for i, a in enumerate(names) if signature[a].startswith("*")}
        compiled = triton.compile(ASTSource(fn=kernel, signature=signature, constexprs=constants, attrs=aligned),
                                  target=GPUTarget("cuda", 90, 32))
        ptx = compiled.asm["ptx"]  # DIM 100 known: rows 16-byte aligned, so vector loads and atomics
        print(len(compiled.asm["cubin"]), ptx.count(".v4.f32") + ptx.count(".v4.b32"))
    """
    sizes = run(script)
    assert len(sizes) == 2 and all(size > 1000 and vectors > 0 for size, vectors in sizes), sizes


def test_pairs_per_program_keep_a_tile_of_about_4096_floats():
    import torch

    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert word2vec_fused.tile(5, 100) == (8, 128) and word2vec_fused.tile(8, 33) == (16, 64)
    assert word2vec_fused.tile(7, 128) == (8, 128)  # 1 + 7 words fill 8 slots; 128 floats need no padding
    assert word2vec_fused.pairs_per_program(cuda, 5, 100) == 4
    assert word2vec_fused.pairs_per_program(cuda, 5, 300) == 1 == word2vec_fused.pairs_per_program(cuda, 10, 300)
    assert word2vec_fused.pairs_per_program(cuda, 5, 20) == 16
    assert word2vec_fused.pairs_per_program(cpu, 5, 100) == 64  # the interpreter: one Python call per program
