"""Evaluation of finished runs: post-training quantisation (`scaling eval --ptq`)."""
