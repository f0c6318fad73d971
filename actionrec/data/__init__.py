"""The data layer: sources of raw videos, the dense frame store, optical flow, temporal sampling and the tf.data input pipelines."""
