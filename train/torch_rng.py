"""torch_rng.py: torch's CPU generator in pure Python (mt19937 and torch.randn), to document and
check what the C side (lib/rng.c) must reproduce bit for bit (docs/model-format.md 4.5).

Sources (PyTorch 1.13): aten/src/ATen/core/MT19937RNGEngine.h (mt19937, seeded with the low
32 bits of the seed), aten/src/ATen/core/TransformationHelper.h (uniform_real: (bits & mask) /
2^digits), aten/src/ATen/core/DistributionsHelper.h (normal_distribution<double>: Box-Muller with
a cached second sample), aten/src/ATen/native/cpu/DistributionTemplates.h (normal_fill for
float tensors of >= 16 elements: all uniforms first, Box-Muller over blocks of 16, the tail block
recomputed from fresh uniforms).
"""
import math
import struct

import numpy as np


class MT19937:
	def __init__(self, seed):
		s = seed & 0xFFFFFFFF
		self.mt = [0] * 624
		self.mt[0] = s
		for i in range(1, 624):
			self.mt[i] = (1812433253 * (self.mt[i - 1] ^ (self.mt[i - 1] >> 30)) + i) & 0xFFFFFFFF
		self.i = 624

	def _twist(self):
		mt = self.mt
		for k in range(624):
			y = (mt[k] & 0x80000000) | (mt[(k + 1) % 624] & 0x7FFFFFFF)
			mt[k] = mt[(k + 397) % 624] ^ (y >> 1) ^ (0x9908B0DF if y & 1 else 0)
		self.i = 0

	def u32(self):
		if self.i >= 624:
			self._twist()
		y = self.mt[self.i]
		self.i += 1
		y ^= y >> 11
		y ^= (y << 7) & 0x9D2C5680
		y ^= (y << 15) & 0xEFC60000
		y ^= y >> 18
		return y

	def u64(self):
		"""torch random64(): (first << 32) | second."""
		hi = self.u32()
		return (hi << 32) | self.u32()


def f32(x):
	return struct.unpack("<f", struct.pack("<f", x))[0]


def randn_scalar(g, n, cache):
	"""n < 16: normal_distribution<double> per element, cast to float. cache: [None] or [value],
	the generator's cached second sample (torch keeps it in the generator)."""
	out = []
	for _ in range(n):
		if cache[0] is not None:
			v, cache[0] = cache[0], None
		else:
			u1 = (g.u64() & ((1 << 53) - 1)) / float(1 << 53)
			u2 = (g.u64() & ((1 << 53) - 1)) / float(1 << 53)
			r = math.sqrt(-2.0 * math.log1p(-u2))
			theta = 2.0 * math.pi * u1
			cache[0] = r * math.sin(theta)
			v = r * math.cos(theta)
		out.append(f32(v))
	return out


def randn_vector_libm(g, n):
	"""n >= 16, the portable normal_fill (no AVX2): float log/sqrt, double theta/cos/sin."""
	data = [(g.u32() & 0xFFFFFF) / float(1 << 24) for _ in range(n)]

	def fill16(d, o):
		for j in range(8):
			u1 = np.float32(1) - np.float32(d[o + j])
			u2 = np.float32(d[o + j + 8])
			radius = np.sqrt(np.float32(-2) * np.log(u1))    # float
			theta = 2.0 * math.pi * float(u2)                 # double
			d[o + j] = f32(float(radius) * math.cos(theta))
			d[o + j + 8] = f32(float(radius) * math.sin(theta))
	for i in range(0, n - 15, 16):
		fill16(data, i)
	if n % 16:
		o = n - 16
		for j in range(16):
			data[o + j] = (g.u32() & 0xFFFFFF) / float(1 << 24)
		fill16(data, o)
	return data
