"""What every tf.data pipeline of the project shares: the video streams (:mod:`actionrec.data.inputs`)
and the pretraining's images (:mod:`actionrec.train.pretraining`). Kept apart so that the
pretrain stage depends on this file, not on the whole data layer."""

import tensorflow as tf


def without_autotune_thread(ds: tf.data.Dataset) -> tf.data.Dataset:
    """``ds`` with tf.data's autotuning model thread turned off.

    Destroying an iterator of an autotuned pipeline waits until that thread wakes from its
    current sleep, which grows as the iterator ages (gdb: ``RootDataset::Iterator::~Iterator``
    waiting on ``Model::OptimizeLoop``). Keras drops an iterator after every pass over a finite
    dataset (each validation, each pretraining epoch) and at the end of ``fit``: each drop cost
    from a fraction of a second to 20 s here, with the process idle. Without the thread,
    ``AUTOTUNE`` parallelism is one call per core and the prefetch buffer still grows on demand;
    the stream is the same (every draw is stateless).
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.with_options(options)
