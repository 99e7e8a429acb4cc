// placeholder until GGUF lands
