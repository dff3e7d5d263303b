"""Package data: the bundled tiny-Shakespeare model (model.npz, tokenizer.json, meta.json)."""
