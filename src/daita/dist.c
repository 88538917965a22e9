/* Distribution samplers for Maybenot (see dist.h). Algorithms:
 *   normal        Box-Muller (no rejection loop)
 *   skew normal   Azzalini/Henze: delta*|Z0| + sqrt(1-delta^2)*Z1
 *   gamma         Marsaglia-Tsang (2000); shape < 1 via G(k+1) * U^(1/k), in log space
 *   beta          X/(X+Y) from two gammas, in log space (no 0/0 for small shapes)
 *   binomial      Knuth's beta splitting (TAOCP 3.4.1) down to <= 64 trials, then direct
 *   poisson       inversion for lambda < 12, PTRS (Hoermann 1993) above, with a
 *                 cancellation-free log-pmf for huge lambda
 *   geometric, pareto, weibull   inversion */
#include "daita/dist.h"

#include <math.h>

#define TWO_POW_64 18446744073709551616.0
#define POISSON_INVERSION_MAX_K 256 /* P(X > 256) for lambda < 12 is < 1e-200 */

/* ---- normals ---- */

/* Two independent standard normals from one Box-Muller step. */
static void std_normal_pair(const daita_rng *r, double *z0, double *z1)
{
	double u1 = daita_rng_f64_oc(r); /* (0,1]: log is finite */
	double u2 = daita_rng_f64(r);
	double rad = sqrt(-2.0 * log(u1));
	double th = 2.0 * M_PI * u2;

	*z0 = rad * cos(th);
	*z1 = rad * sin(th);
}

double daita_sample_std_normal(const daita_rng *r)
{
	double z0, z1;

	std_normal_pair(r, &z0, &z1);
	return z0;
}

double daita_sample_normal(const daita_rng *r, double mean, double stdev)
{
	if (!isfinite(stdev))
		return NAN;
	/* rand_distr 0.5 accepts a negative stdev; the distribution is symmetric anyway */
	return mean + stdev * daita_sample_std_normal(r);
}

double daita_sample_skew_normal(const daita_rng *r, double location, double scale,
				double shape)
{
	double z0, z1, h;

	if (!(scale > 0.0) || !isfinite(scale) || !isfinite(shape))
		return NAN;
	std_normal_pair(r, &z0, &z1);
	h = hypot(1.0, shape); /* sqrt(1 + shape^2) without overflow */
	return location + scale * ((shape / h) * fabs(z0) + z1 / h);
}

double daita_sample_log_normal(const daita_rng *r, double mu, double sigma)
{
	if (!isfinite(sigma))
		return NAN;
	return exp(mu + sigma * daita_sample_std_normal(r));
}

/* ---- gamma and beta ---- */

/* log of a Gamma(k, 1) variate, k > 0 (may be +inf). Recurses at most once (k < 1 -> k + 1). */
/* NOLINTNEXTLINE(misc-no-recursion) */
static double gamma_log_unit(const daita_rng *r, double k)
{
	double d, c;
	int tries;

	if (k < 1.0) {
		/* G(k) = G(k+1) * U^(1/k); kept in logs so tiny shapes do not underflow */
		return gamma_log_unit(r, k + 1.0) + log(daita_rng_f64_oc(r)) / k;
	}
	d = k - 1.0 / 3.0;
	c = 1.0 / sqrt(9.0 * d);
	for (tries = 0; tries < DAITA_DIST_MAX_TRIES; tries++) {
		double z = daita_sample_std_normal(r);
		double v = 1.0 + c * z, u;

		if (v <= 0.0)
			continue;
		v = v * v * v;
		u = daita_rng_f64_oc(r);
		if (u < 1.0 - 0.0331 * (z * z) * (z * z))
			return log(d * v);
		if (log(u) < 0.5 * z * z + d * (1.0 - v + log(v)))
			return log(d * v);
	}
	return log(d); /* broken RNG only: the mode region */
}

double daita_sample_gamma(const daita_rng *r, double shape, double scale)
{
	if (!(shape > 0.0) || !(scale > 0.0))
		return NAN;
	return exp(gamma_log_unit(r, shape)) * scale;
}

double daita_sample_beta(const daita_rng *r, double alpha, double beta)
{
	double lx, ly;

	if (!(alpha > 0.0) || !(beta > 0.0))
		return NAN;
	lx = gamma_log_unit(r, alpha);
	ly = gamma_log_unit(r, beta);
	return 1.0 / (1.0 + exp(ly - lx)); /* X / (X + Y) */
}

/* ---- discrete ---- */

double daita_sample_binomial(const daita_rng *r, uint64_t trials, double p)
{
	uint64_t n = trials, k = 0, i;

	if (!(p >= 0.0 && p <= 1.0))
		return NAN;
	if (n == 0 || p == 0.0)
		return 0.0;
	if (p == 1.0)
		return (double)n;
	/* Knuth: X = a-th smallest of n uniforms ~ Beta(a, n+1-a). If X >= p only the a-1
	 * uniforms below X can be < p (uniform on [0,X)); else those a count, and the n-a above
	 * X are uniform on (X,1]. */
	while (n > DAITA_BINOMIAL_DIRECT_MAX) {
		uint64_t a = 1 + n / 2, b = n + 1 - a;
		double x = daita_sample_beta(r, (double)a, (double)b);

		if (x >= p) {
			n = a - 1;
			p = p / x;
		} else {
			k += a;
			n = b - 1;
			p = (p - x) / (1.0 - x);
		}
		if (!(p > 0.0))
			return (double)k;
		if (p >= 1.0)
			return (double)(k + n);
	}
	for (i = 0; i < n; i++)
		k += daita_rng_f64(r) < p;
	return (double)k;
}

double daita_sample_geometric(const daita_rng *r, double p)
{
	double x;

	if (!(p >= 0.0 && p <= 1.0))
		return NAN;
	if (p == 1.0)
		return 0.0;
	if (p == 0.0)
		return (double)UINT64_MAX; /* rand_distr: never succeeds -> u64::MAX */
	/* inversion: P(X >= k) = (1-p)^k */
	x = floor(log(daita_rng_f64_oc(r)) / log1p(-p));
	return x >= TWO_POW_64 ? (double)UINT64_MAX : x;
}

/* log P(X = k) for Poisson(mu), k >= 0 integral. For large mu the textbook form
 * -mu + k log mu - lgamma(k+1) cancels catastrophically, so Stirling's series is used with
 * log1p on the relative deviation instead. */
static double poisson_log_pmf(double k, double mu)
{
	if (mu < 1e7 || k < 1e6) {
		int sign;
		return -mu + k * log(mu) - lgamma_r(k + 1.0, &sign);
	}
	double d = k - mu;
	return d - k * log1p(d / mu) - 0.5 * log(2.0 * M_PI * k) - 1.0 / (12.0 * k) +
	       1.0 / (360.0 * k * k * k);
}

double daita_sample_poisson(const daita_rng *r, double lambda)
{
	if (!(lambda > 0.0) || !isfinite(lambda))
		return NAN;
	if (lambda < 12.0) {
		double u = daita_rng_f64(r), pk = exp(-lambda), cdf = pk;
		int k = 0;

		while (u >= cdf && k < POISSON_INVERSION_MAX_K) {
			k++;
			pk *= lambda / k;
			cdf += pk;
		}
		return (double)k;
	}
	/* PTRS: transformed rejection with squeeze */
	double smu = sqrt(lambda);
	double b = 0.931 + 2.53 * smu;
	double a = -0.059 + 0.02483 * b;
	double inv_alpha = 1.1239 + 1.1328 / (b - 3.4);
	double vr = 0.9277 - 3.6224 / (b - 2.0);
	int tries;

	for (tries = 0; tries < DAITA_DIST_MAX_TRIES; tries++) {
		double u = daita_rng_f64(r) - 0.5;
		double v = daita_rng_f64_oc(r);
		double us = 0.5 - fabs(u);
		double k;

		if (!(us > 0.0))
			continue;
		k = floor((2.0 * a / us + b) * u + lambda + 0.43);
		if (us >= 0.07 && v <= vr)
			return k;
		if (k < 0.0 || (us < 0.013 && v > us))
			continue;
		if (log(v) + log(inv_alpha) - log(a / (us * us) + b) <= poisson_log_pmf(k, lambda))
			return k;
	}
	return floor(lambda); /* broken RNG only */
}

/* ---- continuous by inversion ---- */

double daita_sample_pareto(const daita_rng *r, double scale, double shape)
{
	if (!(scale > 0.0) || !(shape > 0.0))
		return NAN;
	return scale * pow(daita_rng_f64_oc(r), -1.0 / shape);
}

double daita_sample_weibull(const daita_rng *r, double scale, double shape)
{
	if (!(scale > 0.0) || !(shape > 0.0))
		return NAN;
	return scale * pow(-log(daita_rng_f64_oc(r)), 1.0 / shape);
}

double daita_sample_uniform(const daita_rng *r, double low, double high)
{
	double scale = high - low;
	int tries;

	if (!isfinite(low) || !isfinite(high) || !(low <= high) || !isfinite(scale))
		return NAN;
	if (low == high)
		return low; /* maybenot's constant case: no RNG draw */
	for (tries = 0; tries < DAITA_DIST_MAX_TRIES; tries++) {
		double x = low + scale * daita_rng_f64(r);
		if (x < high) /* rounding can reach high; [low, high) is half-open */
			return x;
	}
	return low;
}

/* ---- Dist ---- */

double daita_dist_sample_raw(const struct daita_dist *d, const daita_rng *r)
{
	switch (d->type) {
	case DAITA_DIST_UNIFORM:
		return daita_sample_uniform(r, d->p.uniform.low, d->p.uniform.high);
	case DAITA_DIST_NORMAL:
		return daita_sample_normal(r, d->p.normal.mean, d->p.normal.stdev);
	case DAITA_DIST_SKEW_NORMAL:
		return daita_sample_skew_normal(r, d->p.skew_normal.location,
						d->p.skew_normal.scale, d->p.skew_normal.shape);
	case DAITA_DIST_LOG_NORMAL:
		return daita_sample_log_normal(r, d->p.log_normal.mu, d->p.log_normal.sigma);
	case DAITA_DIST_BINOMIAL:
		return daita_sample_binomial(r, d->p.binomial.trials, d->p.binomial.probability);
	case DAITA_DIST_GEOMETRIC:
		return daita_sample_geometric(r, d->p.geometric.probability);
	case DAITA_DIST_PARETO:
		return daita_sample_pareto(r, d->p.pareto.scale, d->p.pareto.shape);
	case DAITA_DIST_POISSON:
		return daita_sample_poisson(r, d->p.poisson.lambda);
	case DAITA_DIST_WEIBULL:
		return daita_sample_weibull(r, d->p.weibull.scale, d->p.weibull.shape);
	case DAITA_DIST_GAMMA:
		/* stored (scale, shape); the sampler takes (shape, scale) like rand_distr */
		return daita_sample_gamma(r, d->p.gamma.shape, d->p.gamma.scale);
	case DAITA_DIST_BETA:
		return daita_sample_beta(r, d->p.beta.alpha, d->p.beta.beta);
	}
	return NAN;
}

double daita_dist_clamp(const struct daita_dist *d, double raw)
{
	double x = raw + d->start;

	if (!isfinite(x))
		return 0.0;
	if (x < 0.0)
		x = 0.0;
	if (d->max > 0.0 && x > d->max)
		x = d->max;
	return x;
}

double daita_dist_sample(const struct daita_dist *d, const daita_rng *r)
{
	return daita_dist_clamp(d, daita_dist_sample_raw(d, r));
}

/* ---- integer conversions ---- */

uint64_t daita_f64_to_u64_sat(double x)
{
	if (!(x > 0.0))
		return 0; /* NaN, zero and negatives */
	if (x >= TWO_POW_64)
		return UINT64_MAX;
	return (uint64_t)x;
}

uint64_t daita_f64_round_to_u64(double x)
{
	return daita_f64_to_u64_sat(round(x));
}

static uint64_t sample_capped_us(const struct daita_dist *d, const daita_rng *r, double cap)
{
	return daita_f64_round_to_u64(fmin(daita_dist_sample(d, r), cap));
}

uint64_t daita_sample_timeout_us(const struct daita_dist *d, const daita_rng *r)
{
	return sample_capped_us(d, r, DAITA_MAX_SAMPLED_TIMEOUT);
}

uint64_t daita_sample_block_duration_us(const struct daita_dist *d, const daita_rng *r)
{
	return sample_capped_us(d, r, DAITA_MAX_SAMPLED_BLOCK_DURATION);
}

uint64_t daita_sample_timer_duration_us(const struct daita_dist *d, const daita_rng *r)
{
	return sample_capped_us(d, r, DAITA_MAX_SAMPLED_TIMER_DURATION);
}

uint64_t daita_sample_action_limit(const struct daita_action *a, const daita_rng *r)
{
	if (!a->has_limit)
		return DAITA_STATE_LIMIT_MAX;
	return daita_f64_round_to_u64(daita_dist_sample(&a->limit, r));
}

uint64_t daita_sample_counter_value(const struct daita_counter *c, const daita_rng *r)
{
	if (!c->has_dist)
		return 1;
	return daita_f64_to_u64_sat(daita_dist_sample(&c->dist, r));
}
