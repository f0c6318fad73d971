"""Building blocks shared by the scratch-trained CNNs (basic_cnn, vgg, cnn_lstm, conv3d, two_stream)."""

from keras import layers

# Keras' default BN momentum (0.99) needs ~500 steps for the moving statistics used at inference
# to forget their init; a run on a few hundred videos has that many steps in total, so early
# validation losses (and early stopping) would be meaningless.
BN_MOMENTUM = 0.9


def conv_blocks(x, filters: int, blocks: int, convs: int = 1, prefix: str = "block"):
    """``blocks`` x (``convs`` x Conv-BN-ReLU, 2x2 max pool); width doubles each block."""
    for b in range(blocks):
        for c in range(convs):
            x = layers.Conv2D(filters * 2**b, 3, padding="same", use_bias=False, name=f"{prefix}{b + 1}_conv{c + 1}")(x)
            x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{prefix}{b + 1}_bn{c + 1}")(x)
            x = layers.ReLU(name=f"{prefix}{b + 1}_relu{c + 1}")(x)
        x = layers.MaxPooling2D(2, padding="same", name=f"{prefix}{b + 1}_pool")(x)
    return x
