"""TFLite / LiteRT: conversion (litert-torch or the ONNX route), quantization recipes, int8-full fallback, runner."""
