"""CNNs: shapes, the parts that make each architecture what it is, FLOP counts by hand, learning, bad input."""

import pytest
import torch
from torch import nn

from embedkit import cnn, train
from embedkit.errors import ShapeError
from embedkit.images import fashion_mnist, stratified_subset, to_float


@pytest.mark.parametrize("name", list(cnn.ARCHITECTURES))
def test_shapes_and_embedding_is_the_penultimate_layer(name):
    torch.manual_seed(0)
    model = cnn.ARCHITECTURES[name]().eval()
    x = torch.rand(3, 1, 28, 28)
    z = model.embed(x)
    assert z.ndim == 2 and len(z) == 3
    assert torch.allclose(model(x), model.head(z))
    # the head is one linear map of the embedding (dropout aside): the embedding is the penultimate layer
    weighted = [m for m in model.head.modules() if any(True for _ in m.parameters(recurse=False))]
    assert len(weighted) == 1 and isinstance(weighted[0], nn.Linear), weighted
    assert weighted[0].in_features == z.shape[1]
    earlier = model.embed_earlier(x)
    assert earlier.ndim == 2 and len(earlier) == 3
    if name in ("AlexNet", "VGG"):  # the flattened conv features, fed through the dense layers, give the embedding
        flatten = [type(m) for m in model.features].index(nn.Flatten)
        assert torch.allclose(model.features[flatten:](earlier), z, atol=1e-6)
    # one pass for both, in two chunks: exactly the two embeddings computed in the same chunks
    both = train.batched(model.embed_both, x, batch_size=2)
    assert isinstance(both, tuple) and torch.equal(both[0], train.batched(model.embed, x, batch_size=2))
    assert torch.equal(both[1], train.batched(model.embed_earlier, x, batch_size=2))


@pytest.mark.parametrize("name", list(cnn.ARCHITECTURES))
def test_channels_last_changes_the_layout_not_the_model(name, tmp_path):
    """The convolution weights are stored channels-last (for speed); the logits and embeddings are those of the same
    weights laid out the usual way, to float rounding, and the weights save and load as usual."""
    from embedkit.weights import load_safetensors, save_safetensors

    torch.manual_seed(0)
    model = cnn.ARCHITECTURES[name]().eval()
    convs = [m.weight for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
    assert not all(w.is_contiguous() for w in convs)  # a layout that differs, not only a flag
    plain = cnn.ARCHITECTURES[name]().eval()
    plain.load_state_dict(model.state_dict())
    plain.to(memory_format=torch.contiguous_format)
    plain.normalise = lambda x: (x - cnn.MEAN) / cnn.STD  # the usual layout all the way
    x = torch.rand(16, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(model(x), plain(x), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(model.embed(x), plain.embed(x), rtol=1e-4, atol=1e-5)
    save_safetensors(model.state_dict(), tmp_path / "w.safetensors")
    again = cnn.ARCHITECTURES[name]().eval()
    again.load_state_dict(load_safetensors(tmp_path / "w.safetensors"))
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), model.state_dict().values()))


def test_each_architecture_has_its_defining_parts():
    kinds = lambda m: {type(x) for x in m.modules()}
    alex, vgg, res, inc = (cnn.ARCHITECTURES[n]() for n in ["AlexNet", "VGG", "ResNet", "Inception"])
    assert nn.Dropout in kinds(alex) and alex.features[0].kernel_size == (5, 5)
    assert {m.kernel_size for m in vgg.modules() if isinstance(m, nn.Conv2d)} == {(3, 3)}
    assert sum(isinstance(m, nn.Conv2d) for m in vgg.modules()) == 7
    blocks = [m for m in res.modules() if isinstance(m, cnn.BasicBlock)]
    assert len(blocks) == 6 and sum(not isinstance(b.shortcut, nn.Identity) for b in blocks) == 2
    assert sum(isinstance(m, cnn.InceptionBlock) for m in inc.modules()) == 4


def test_residual_block_adds_its_input():
    block = cnn.BasicBlock(4, 4).eval()
    for p in block.conv2.parameters():
        nn.init.zeros_(p)  # the residual branch now outputs 0 (before batch norm's shift)
    nn.init.zeros_(block.bn2.bias)
    x = torch.rand(2, 4, 5, 5)
    assert torch.allclose(block(x), torch.relu(x))


def test_flops_by_hand():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Flatten(), nn.Linear(2 * 4 * 4, 5))
    # conv: 2 output maps of 4x4, each output 1*3*3 multiply-adds; dense: 32*5
    assert cnn.count_flops(model, (1, 1, 4, 4)) == 2 * 16 * 9 + 32 * 5


def test_flops_of_a_transposed_convolution_by_hand():
    # 1 input map of 2x2 numbers, each scattered through a 3x3 kernel into each of 2 output maps: 4*2*9
    model = nn.Sequential(nn.ConvTranspose2d(1, 2, 3, stride=2))
    assert cnn.count_flops(model, (1, 1, 2, 2)) == 4 * 2 * 9


@pytest.mark.parametrize("name", [*cnn.ARCHITECTURES, "DenseAutoencoder", "ConvAutoencoder"])
def test_flops_match_torch_flop_counter(name):
    """`count_flops` against torch.utils.flop_counter.FlopCounterMode on one (1, 1, 28, 28) image, eval mode.

    The conventions differ by exactly a factor of 2: ours counts multiply-adds, torch counts 2 FLOPs per
    multiply-add. Both count only convolutions and dense layers (torch: ``aten.convolution`` and ``aten.addmm``,
    with no FLOPs for the bias, as ours); pooling, batch norm, ReLU, the residual additions and the input
    normalisation count 0 in both.
    """
    from torch.utils.flop_counter import FlopCounterMode

    torch.manual_seed(0)
    shape = (1, 784) if name == "DenseAutoencoder" else (1, 1, 28, 28)
    if name in cnn.ARCHITECTURES:
        model = cnn.ARCHITECTURES[name]().eval()
    else:  # chapter 8's autoencoders (the convolutional one decodes with transposed convolutions)
        from embedkit import autoencoder
        model = getattr(autoencoder, name)(784, 8) if name == "DenseAutoencoder" else autoencoder.ConvAutoencoder(8)
        model.eval()
    ours = cnn.count_flops(model, shape)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.zeros(shape))
    by_op = {str(op): flops for op, flops in counter.get_flop_counts()["Global"].items()}
    assert by_op and set(by_op) <= {"aten.convolution", "aten.addmm"}, by_op  # nothing else is counted by torch
    assert counter.get_total_flops() == 2 * ours, (counter.get_total_flops(), ours)
    assert not model.training  # count_flops restores the mode it found


def test_training_learns_fashion_mnist_quickly():
    x, y = fashion_mnist("test")
    pick = stratified_subset(y, 100, seed=0)
    data, labels = to_float(x[pick]), y[pick]
    torch.manual_seed(0)
    model = cnn.ResNet(width=8, blocks_per_stage=1)
    history = train.fit(model, cnn.classification_loss, (data[:800], labels[:800]), val=(data[800:], labels[800:]),
                        epochs=4, batch_size=64, lr=3e-3, device="cpu")
    accuracy = float((model(data[800:]).argmax(1) == labels[800:]).float().mean())
    assert history.train[-1] < history.train[0] and accuracy > 0.5  # chance is 0.1


def test_bad_input():
    model = cnn.VGG()
    with pytest.raises(ShapeError, match="unsqueeze"):
        model(torch.rand(2, 28, 28))
    with pytest.raises(ShapeError, match="one channel"):
        model(torch.rand(2, 3, 28, 28))
    with pytest.raises(ShapeError, match=r"images of shape \(n, 1, 28, 28\); got \(2, 1, 32, 32\)"):
        model.embed(torch.rand(2, 1, 32, 32))
    with pytest.raises(TypeError, match="to_float"):
        model(torch.zeros(2, 1, 28, 28, dtype=torch.uint8))
    with pytest.raises(KeyError, match="choose from"):
        cnn.load_pretrained("LeNet")


@pytest.mark.parametrize("name", list(cnn.ARCHITECTURES))
def test_shipped_weights_load_and_classify(name):
    x, y = fashion_mnist("test")
    pick = stratified_subset(y, 50, seed=0)
    model, metadata = cnn.load_pretrained(name, "all")
    with torch.no_grad():
        accuracy = float((model(to_float(x[pick])).argmax(1) == y[pick]).float().mean())
    assert accuracy > 0.85 and metadata["architecture"] == name
    seen, _ = cnn.load_pretrained(name, "seen")
    with torch.no_grad():
        predictions = seen(to_float(x[pick])).argmax(1)
    assert set(predictions.tolist()) <= set(cnn.SEEN_CLASSES)  # it never learned the other classes


def test_shipped_weights_are_checked(tmp_path, monkeypatch):
    from embedkit.errors import DataIntegrityError

    source = cnn.weights_folder() / "vgg-all.safetensors"
    copy = tmp_path / "vgg-all.safetensors"
    content = bytearray(source.read_bytes())
    content[-1] ^= 1
    copy.write_bytes(bytes(content))
    monkeypatch.setattr(cnn, "weights_folder", lambda: tmp_path)
    with pytest.raises(DataIntegrityError, match="train_cnns.py"):
        cnn.load_pretrained("VGG")


def test_shipped_weights_install_with_the_package(tmp_path):
    """The weights are package data: a wheel of embedkit carries every file that `load_pretrained` checks."""
    import subprocess
    import sys
    import zipfile
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(root),
                    "-w", str(tmp_path)], check=True, cwd=tmp_path)
    (wheel,) = tmp_path.glob("embedkit-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"embedkit/pretrained/{f}" for f in cnn.PRETRAINED} <= names
