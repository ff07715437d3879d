"""Text of feedback: tokens, encoders (ONNX / torch) and the embedding cache."""
