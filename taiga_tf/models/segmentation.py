"""A small UResNet for semantic segmentation of LArTPC images (the reference's "SSNet").

Labels every pixel background / track / shower. Its pooled bottleneck activations
are the embedding of the SSNet-FID (a Frechet distance between generated and MC
images, as the Inception features are for natural images), and its per-pixel
scores give the per-class score histograms of the report.
"""
from __future__ import annotations

import keras

N_LABELS = 3      # background, track, shower


def _res_block(x, width: int, name: str):
  skip = x if x.shape[-1] == width else keras.layers.Conv2D(width, 1, name=f'{name}_skip')(x)
  h = keras.layers.Conv2D(width, 3, padding='same', name=f'{name}_c1')(x)
  h = keras.layers.BatchNormalization(name=f'{name}_bn1')(h)
  h = keras.layers.ReLU(name=f'{name}_r1')(h)
  h = keras.layers.Conv2D(width, 3, padding='same', name=f'{name}_c2')(h)
  h = keras.layers.BatchNormalization(name=f'{name}_bn2')(h)
  return keras.layers.ReLU(name=f'{name}_out')(keras.layers.Add(name=f'{name}_add')([h, skip]))


def uresnet(image_size: int = 64, width: int = 16, depth: int = 3,
            name: str = 'ssnet') -> keras.Model:
  """[S, S, 1] network-space image -> {'labels': [S, S, 3] softmax}; `with_embedding`
  adds the pooled bottleneck ([width * 2^depth]).

  depth levels of (residual block, 2x downsampling), a bottleneck, and the mirror
  path up with skip connections (U-Net), as UResNet."""
  x = inp = keras.Input((image_size, image_size, 1), name='image')
  skips = []
  for i in range(depth):
    x = _res_block(x, width * 2 ** i, f'down{i}')
    skips.append(x)
    x = keras.layers.Conv2D(width * 2 ** (i + 1), 2, strides=2, name=f'pool{i}')(x)
  x = _res_block(x, width * 2 ** depth, 'bottleneck')
  for i in reversed(range(depth)):
    x = keras.layers.Conv2DTranspose(width * 2 ** i, 2, strides=2, name=f'up{i}')(x)
    x = keras.layers.Concatenate(name=f'join{i}')([x, skips[i]])
    x = _res_block(x, width * 2 ** i, f'dec{i}')
  labels = keras.layers.Conv2D(N_LABELS, 1, activation='softmax', name='labels')(x)
  return keras.Model(inp, {'labels': labels}, name=name)


def with_embedding(model: keras.Model) -> keras.Model:
  """The same network answering {'labels', 'embedding'}: the embedding is the bottleneck's
  activations averaged over the image."""
  emb = keras.layers.GlobalAveragePooling2D(name='embedding')(
      model.get_layer('bottleneck_out').output)
  return keras.Model(model.inputs, {'labels': model.get_layer('labels').output, 'embedding': emb})


def compile_uresnet(model: keras.Model, lr: float = 1e-3) -> keras.Model:
  """Pixel-wise cross-entropy (weighted by the caller's sample weights: the charge
  pixels matter, the empty background is most of every image)."""
  model.compile(optimizer=keras.optimizers.Adam(lr),
                loss={'labels': 'sparse_categorical_crossentropy'},
                metrics={'labels': ['accuracy']})
  return model
