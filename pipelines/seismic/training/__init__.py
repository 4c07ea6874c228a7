"""PhaseNet-DAS training (the only part of dasedge that imports torch).

Modules: :mod:`.model` (network), :mod:`.scenes` (synthetic DAS earthquakes for
training and evaluation), :mod:`.noise` (real noise bank), :mod:`.dataset`
(patches, labels, augmentations), :mod:`.pseudo_labels` (teacher -> GaMMA ->
filtered labels), :mod:`.train` (CPU training loop), :mod:`.export` (ONNX),
:mod:`.finetune` (user-fiber fine-tuning).
"""
