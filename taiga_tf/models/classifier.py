"""Small CNNs used by the evaluation: gamma/hadron, two-sample test, energy/distance."""
from __future__ import annotations

import keras


def image_classifier(heads: dict[str, int], image_size: int = 32, width: int = 16,
                     name: str = 'classifier') -> keras.Model:
  """Conv net on [S, S, 1] network-space images; one softmax (or sigmoid if 1) per head."""
  x = inp = keras.Input((image_size, image_size, 1), name='image')
  for i, w in enumerate((width, 2 * width, 4 * width)):
    x = keras.layers.Conv2D(w, 3, padding='same', activation='relu', name=f'conv{i}a')(x)
    x = keras.layers.Conv2D(w, 3, padding='same', activation='relu', name=f'conv{i}b')(x)
    if i < 2:
      x = keras.layers.MaxPooling2D(2, name=f'pool{i}')(x)
  x = keras.layers.GlobalAveragePooling2D(name='gap')(x)
  x = keras.layers.Dense(4 * width, activation='relu', name='fc')(x)
  outputs = {h: keras.layers.Dense(n, activation='sigmoid' if n == 1 else 'softmax', name=h)(x)
             for h, n in heads.items()}
  return keras.Model(inp, outputs, name=name)


def compile_classifier(model: keras.Model, heads: dict[str, int], lr: float = 1e-3):
  loss = {h: ('binary_crossentropy' if n == 1 else 'sparse_categorical_crossentropy')
          for h, n in heads.items()}
  metrics = {h: ['accuracy'] for h in heads}
  model.compile(optimizer=keras.optimizers.Adam(lr), loss=loss, metrics=metrics)
  return model
