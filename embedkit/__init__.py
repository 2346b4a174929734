"""embedkit: the embeddings of the book, implemented from scratch in PyTorch.

One module per idea, mirroring the chapters:

- `device`: CUDA / MPS / CPU selection (override with ``EMBEDKIT_DEVICE``), seeding.
- `data`: packaged data files, sha256-checked, read offline.
- `table`: `EmbeddingTable`, lookups, cosine neighbours and analogies.
- `evaluate`: analogy accuracy and word-similarity correlation.
- `probe`: linear and k-NN probes that measure what an embedding encodes.
- `concentration`: distance concentration, the curse of dimensionality.
- `corpora`: the Wikipedia and news corpora, read offline (with each news article's outlet); words and sentences.
- `vocab`: the vocabulary, frequent-word subsampling and the noise distribution.
- `word2vec`: skip-gram and CBOW with negative sampling.
- `word2vec_graph`: Word2Vec blocks of one fixed shape, replayed as a CUDA graph on a GPU.
- `word2vec_fused`: those skip-gram blocks in two triton kernels each (optional; needs triton).
- `hogwild`: Word2Vec's blocks of updates: their layout and size, worker threads writing without locks.
- `glove`: co-occurrence counts and the GloVe model.
- `parallel`: independent training runs side by side, one CPU core each.
- `ratings`: `Ratings`, (user, item, rating, time) rows with users and items indexed 0..n-1.
- `recsys`: ratings data (MovieLens), splits and recommender metrics.
- `mf`: biased matrix factorisation by Adam and by ALS.
- `bpr`: Bayesian personalised ranking, embeddings from implicit feedback.
- `pca`: principal component analysis (exact and randomised SVD).
- `images`: Fashion-MNIST (IDX files) and an MNIST subset.
- `train`: the training loop shared by the neural networks (early stopping, any device).
- `autoencoder`: dense and convolutional autoencoders; principal angles.
- `vae`: the variational autoencoder and its ELBO.
- `weights`: safetensors files, read and written.
- `cnn`: AlexNet-, VGG-, ResNet- and Inception-style networks and their embeddings.
- `wordpiece`: BERT's WordPiece tokenizer.
- `bert`: the BERT encoder, safetensors loading, sentence embeddings.
- `mlm`: masked and next-word language models on the BERT encoder.
- `contrastive`: SimCLR's augmentations and the NT-Xent loss.
- `probe_tasks`: word-category and news-outlet probing tasks; a closed-form ridge probe for every layer.
- `retrieval`: the in-batch negatives (InfoNCE) loss, retrieval metrics, query-document pairs from the news.
- `layerwise`: pooled vectors ([CLS], mean, max, a word's pieces) of every layer of a BERT encoder; whitening.
- `finetune`: contrastive training on pairs: an encoder's top layers over cached frozen ones, a bag of word pieces.
- `search`: exact top-k search in blocks and the IVF-Flat index (checked against faiss).
- `topk`: the top-k of a matrix product block by block, the engine of exact search (numpy's OpenBLAS on CPUs).
- `kmeans`: k-means with k-means++ seeding, the coarse quantiser of `search`.
- `pq`: product quantisation with asymmetric distances, and IVF-PQ with exact re-ranking.
- `compress`: int8 scalar quantisation, and sign-bit codes searched by Hamming distance with re-scoring.
- `shard`: exact and IVF-Flat search sharded over processes with torch.distributed (gloo or NCCL).
- `errors`: the exceptions, each subclassing the built-in one a caller would catch.
- `progress`: progress bars that show in interactive use and stay quiet in tests.
- `timing`: wall-clock timing that waits for the device.
- `diagrams`: the schematic pictures of the chapters (boxes, arrows, grids of cells) in matplotlib.

API conventions, the same in every module:

- Devices: models, and functions that create, load or fit data, take ``device=``; ``None`` means
  `get_device`'s choice (CUDA, then MPS, then the CPU), which ``$EMBEDKIT_DEVICE`` overrides
  (`device.DEVICE_ENV_VAR`). Functions given tensors and no ``device=`` (losses, metrics,
  `concentration.relative_contrast`, `glove.cooccurrence`) compute where those tensors are, or on the CPU
  where their docstring says so (`recsys.ranking_metrics`, `autoencoder.principal_angles`).
  Tensors come back on the device that computed them (a model's, or ``device=``); call ``.cpu()`` before
  numpy, scikit-learn or matplotlib. Functions that take ``device=`` accept inputs anywhere and move them
  there; a model's methods, as torch modules do, take inputs on the model's device (`train.batched`
  streams CPU data through a model on a GPU and brings the results back to where the data were). Scores
  and metrics come back as Python numbers, except tables of them (`probe_tasks.probe_layers`: a layers x
  seeds tensor; `concentration.relative_contrast`: one value per query).
- Names: ``embed`` gives the embedding of a batch of inputs, on every model whose embeddings are of its
  inputs (an image network's penultimate layer, an autoencoder's code, a VAE's posterior mean, a sentence
  encoder's pooled vector); models of IDs keep theirs as tables (`mf.BiasedMF`, `bpr.BPR`: ``user`` and
  ``item``);
  ``encode`` is the first half of an encoder/decoder pair (autoencoders: the code ``decode`` takes; the
  VAE: the posterior's ``(mu, logvar)``, whose ``mu`` is ``embed``'s code) and, for text, the step from text to ids (`vocab.Vocabulary.encode`, `wordpiece.WordPieceTokenizer.encode`).
  Public methods that tests and chapters call have no leading underscore.
- Sizes: ``batch_size`` is the number of examples per optimisation step or per chunk of work;
  Word2Vec's ``block`` is its own thing, the centre positions updated at once (as word2vec.c's threads).
- Training returns a `train.History`: one dict per epoch (``pandas.DataFrame(history)`` is a table), with
  ``best_epoch`` and ``seconds`` (except `finetune.train_pairs`, which returns its list of step losses). Epochs count from 1, in its rows, in ``best_epoch`` and in ``on_epoch``.
- Randomness: ``seed=`` arguments, or ``generator=`` for the functions that draw inside a training step
  (augmentations, masks, negative samples); losses without one draw from torch's global generator, which
  `train.fit` seeds. CPU runs with the same seeds are exactly repeatable.
- Errors: the classes in `errors`, each a subclass of the built-in exception a caller would catch
  (``KeyError``, ``ValueError``, ``FileNotFoundError``, ``RuntimeError``), with a message that says what to do.
- Environment variables: ``EMBEDKIT_DEVICE``, ``EMBEDKIT_FASHION_MNIST`` (`images.FASHION_MNIST_ENV_VAR`),
  ``EMBEDKIT_PROGRESS`` (0 silences progress bars, 1 forces them).
"""

from .device import get_device, seed_everything
from .errors import (DataIntegrityError, DataNotFoundError, DeviceUnavailableError, EmptyInputError,
                     ShapeError, UnknownIDError, UnknownNameError, UnknownWordError)
from .table import EmbeddingTable

__version__ = "0.1.0"

__all__ = [
    "EmbeddingTable", "get_device", "seed_everything", "DataIntegrityError", "DataNotFoundError",
    "DeviceUnavailableError", "EmptyInputError", "ShapeError", "UnknownIDError", "UnknownNameError", "UnknownWordError",
]
