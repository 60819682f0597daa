"""A small real benchmark for pytest-benchmark (the import fixture): two hash functions at
two input sizes, so that the import has variants and a parameter to sweep."""

import hashlib

import pytest

DATA = {n: bytes(range(256)) * (n // 256) for n in (4096, 65536)}


@pytest.mark.parametrize("size", [4096, 65536])
def test_sha256(benchmark, size):
    benchmark(hashlib.sha256, DATA[size])


@pytest.mark.parametrize("size", [4096, 65536])
def test_md5(benchmark, size):
    benchmark(hashlib.md5, DATA[size])
