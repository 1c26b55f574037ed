"""Small CNNs used by the evaluation: gamma/hadron, two-sample test, energy/distance."""
from __future__ import annotations

import keras


def image_classifier(heads: dict[str, int], image_size: int = 32, width: int = 16,
                     name: str = 'classifier', n_condition: int = 0) -> keras.Model:
  """Conv net on [S, S, 1] network-space images; one softmax (or sigmoid if 1) per head.

  With n_condition > 0 the model takes {'image', 'condition'} (a (n_condition,)
  vector, e.g. the one-hot energy and distance bins) joined to the pooled image
  features, so a two-sample test can see images of the wrong class.
  """
  x = inp = keras.Input((image_size, image_size, 1), name='image')
  for i, w in enumerate((width, 2 * width, 4 * width)):
    x = keras.layers.Conv2D(w, 3, padding='same', activation='relu', name=f'conv{i}a')(x)
    x = keras.layers.Conv2D(w, 3, padding='same', activation='relu', name=f'conv{i}b')(x)
    if i < 2:
      x = keras.layers.MaxPooling2D(2, name=f'pool{i}')(x)
  x = keras.layers.GlobalAveragePooling2D(name='gap')(x)
  inputs = inp
  if n_condition:
    cond = keras.Input((n_condition,), name='condition')
    x = keras.layers.Concatenate(name='join')([x, cond])
    inputs = {'image': inp, 'condition': cond}
  x = keras.layers.Dense(4 * width, activation='relu', name='fc')(x)
  outputs = {h: keras.layers.Dense(n, activation='sigmoid' if n == 1 else 'softmax', name=h)(x)
             for h, n in heads.items()}
  return keras.Model(inputs, outputs, name=name)


def compile_classifier(model: keras.Model, heads: dict[str, int], lr: float = 1e-3):
  loss = {h: ('binary_crossentropy' if n == 1 else 'sparse_categorical_crossentropy')
          for h, n in heads.items()}
  metrics = {h: ['accuracy'] for h in heads}
  model.compile(optimizer=keras.optimizers.Adam(lr), loss=loss, metrics=metrics)
  return model
