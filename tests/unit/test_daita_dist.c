/* Maybenot distributions: moments of every sampler against closed forms (fixed seed), the
 * start/max clamp, integer conversions, robustness against bad parameters and broken RNGs,
 * and the ChaCha20 generator (RFC 8439 block KAT, fast key erasure). */
#include "test.h"

#include "daita/dist.h"
#include "daita/rng.h"

#include <math.h>

/* ---- RNGs for tests ---- */

static uint64_t xoshiro_next(void *ctx)
{
	return test_rng_next(ctx);
}

static test_rng g_state;
static daita_rng g_rng = { xoshiro_next, &g_state };

struct counting_rng {
	uint64_t value; /* constant output */
	unsigned long draws;
};

static uint64_t counting_next(void *ctx)
{
	struct counting_rng *c = ctx;
	c->draws++;
	return c->value;
}

/* ---- helpers ---- */

static struct daita_dist mk(enum daita_dist_type t, double a, double b, double c)
{
	struct daita_dist d;

	memset(&d, 0, sizeof(d));
	d.type = t;
	switch (t) {
	case DAITA_DIST_UNIFORM: d.p.uniform.low = a; d.p.uniform.high = b; break;
	case DAITA_DIST_NORMAL: d.p.normal.mean = a; d.p.normal.stdev = b; break;
	case DAITA_DIST_SKEW_NORMAL:
		d.p.skew_normal.location = a; d.p.skew_normal.scale = b; d.p.skew_normal.shape = c;
		break;
	case DAITA_DIST_LOG_NORMAL: d.p.log_normal.mu = a; d.p.log_normal.sigma = b; break;
	case DAITA_DIST_BINOMIAL:
		d.p.binomial.trials = (uint64_t)a; d.p.binomial.probability = b;
		break;
	case DAITA_DIST_GEOMETRIC: d.p.geometric.probability = a; break;
	case DAITA_DIST_PARETO: d.p.pareto.scale = a; d.p.pareto.shape = b; break;
	case DAITA_DIST_POISSON: d.p.poisson.lambda = a; break;
	case DAITA_DIST_WEIBULL: d.p.weibull.scale = a; d.p.weibull.shape = b; break;
	case DAITA_DIST_GAMMA: d.p.gamma.scale = a; d.p.gamma.shape = b; break;
	case DAITA_DIST_BETA: d.p.beta.alpha = a; d.p.beta.beta = b; break;
	}
	return d;
}

static struct daita_dist constant(double v, double start, double max)
{
	struct daita_dist d = mk(DAITA_DIST_UNIFORM, v, v, 0);
	d.start = start;
	d.max = max;
	return d;
}

/* Draws n raw samples; checks the mean within 6 standard errors and the variance within a
 * relative tolerance; also that every sample is finite and within [lo, hi]. */
static void check_moments(const char *name, const struct daita_dist *d, size_t n, double mean,
			  double var, double var_rtol, double lo, double hi)
{
	double m = 0.0, m2 = 0.0, sample_var, se;
	size_t i, bad = 0;

	test_rng_seed(&g_state, 0x6d617962656e6f74ULL ^ (uint64_t)d->type);
	for (i = 0; i < n; i++) {
		double x = daita_dist_sample_raw(d, &g_rng), delta;

		if (!isfinite(x) || x < lo || x > hi)
			bad++;
		delta = x - m;
		m += delta / (double)(i + 1);
		m2 += delta * (x - m);
	}
	sample_var = m2 / (double)(n - 1);
	se = sqrt(var / (double)n);
	CHECK_MSG(bad == 0, "%s: %zu samples outside [%g, %g]", name, bad, lo, hi);
	CHECK_MSG(fabs(m - mean) <= 6.0 * se + 1e-12 * fabs(mean),
		  "%s: mean %.9g, expected %.9g (se %.3g)", name, m, mean, se);
	CHECK_MSG(fabs(sample_var - var) <= var_rtol * var, "%s: variance %.9g, expected %.9g",
		  name, sample_var, var);
}

/* P(a <= X <= b) estimated vs expected, within 6 binomial standard errors. */
static void check_prob(const char *name, const struct daita_dist *d, size_t n, double a,
		       double b, double expected)
{
	size_t i, hits = 0;
	double p, se = sqrt(expected * (1 - expected) / (double)n);

	test_rng_seed(&g_state, 0x70726f62ULL ^ (uint64_t)d->type);
	for (i = 0; i < n; i++) {
		double x = daita_dist_sample_raw(d, &g_rng);
		hits += (x >= a && x <= b);
	}
	p = (double)hits / (double)n;
	CHECK_MSG(fabs(p - expected) <= 6 * se, "%s: P = %.6f, expected %.6f", name, p, expected);
}

#define N_DRAWS 200000

static void test_uniform(void)
{
	struct daita_dist d = mk(DAITA_DIST_UNIFORM, 2, 5, 0);
	struct counting_rng c = { 0, 0 };
	daita_rng cr = { counting_next, &c };

	check_moments("uniform", &d, N_DRAWS, 3.5, 0.75, 0.02, 2, 5 - 1e-12);
	d = mk(DAITA_DIST_UNIFORM, -1e6, 1e6, 0);
	check_moments("uniform wide", &d, N_DRAWS, 0, 4e12 / 12, 0.02, -1e6, 1e6);
	/* low == high: that constant, and no RNG draw (maybenot's special case) */
	d = constant(7.25, 0, 0);
	CHECK(daita_dist_sample_raw(&d, &cr) == 7.25);
	CHECK_EQ_U64(c.draws, 0);
	/* the top of [low, high) is excluded even when the RNG gives its largest value */
	c.value = UINT64_MAX;
	d = mk(DAITA_DIST_UNIFORM, 1.0, nextafter(1.0, 2.0), 0);
	CHECK(daita_dist_sample_raw(&d, &cr) < d.p.uniform.high);
}

static void test_normals(void)
{
	struct daita_dist d = mk(DAITA_DIST_NORMAL, 10, 3, 0);
	double delta, sn_mean, sn_var;

	check_moments("normal", &d, N_DRAWS, 10, 9, 0.025, -INFINITY, INFINITY);
	check_prob("normal P(X<=13)", &d, N_DRAWS, -INFINITY, 13, 0.841344746);
	d = mk(DAITA_DIST_NORMAL, 10, -3, 0); /* negative stdev is valid in rand_distr 0.5 */
	check_moments("normal neg stdev", &d, N_DRAWS, 10, 9, 0.025, -INFINITY, INFINITY);
	d = mk(DAITA_DIST_NORMAL, -4, 0, 0);
	CHECK(daita_dist_sample_raw(&d, &g_rng) == -4);

	d = mk(DAITA_DIST_SKEW_NORMAL, 1, 2, 4);
	delta = 4 / sqrt(17.0);
	sn_mean = 1 + 2 * delta * sqrt(2 / M_PI);
	sn_var = 4 * (1 - 2 * delta * delta / M_PI);
	check_moments("skew normal", &d, N_DRAWS, sn_mean, sn_var, 0.025, -INFINITY, INFINITY);
	d = mk(DAITA_DIST_SKEW_NORMAL, 1, 2, -4);
	check_moments("skew normal neg", &d, N_DRAWS, 2 - sn_mean, sn_var, 0.025, -INFINITY,
		      INFINITY);
	d = mk(DAITA_DIST_SKEW_NORMAL, 5, 3, 0); /* shape 0 = normal */
	check_moments("skew normal 0", &d, N_DRAWS, 5, 9, 0.025, -INFINITY, INFINITY);
	d = mk(DAITA_DIST_SKEW_NORMAL, 0, 1, 1e300); /* huge shape = half-normal, no overflow */
	check_moments("skew normal huge", &d, N_DRAWS, sqrt(2 / M_PI), 1 - 2 / M_PI, 0.03, 0,
		      INFINITY);

	d = mk(DAITA_DIST_LOG_NORMAL, 1, 0.25, 0);
	check_moments("lognormal", &d, N_DRAWS, exp(1 + 0.03125),
		      (exp(0.0625) - 1) * exp(2 + 0.0625), 0.03, 0, INFINITY);
}

static void test_binomial(void)
{
	struct daita_dist d = mk(DAITA_DIST_BINOMIAL, 20, 0.3, 0);

	check_moments("binomial 20", &d, N_DRAWS, 6, 4.2, 0.025, 0, 20);
	check_prob("binomial P(X=6)", &d, N_DRAWS, 6, 6, 0.191638982);
	d = mk(DAITA_DIST_BINOMIAL, 1000, 0.01, 0);
	check_moments("binomial 1000", &d, N_DRAWS, 10, 9.9, 0.025, 0, 1000);
	d = mk(DAITA_DIST_BINOMIAL, 100000, 0.9, 0);
	check_moments("binomial 1e5", &d, 50000, 90000, 9000, 0.04, 0, 100000);
	/* the largest valid trials (1e9): Knuth splitting keeps this fast and exact */
	d = mk(DAITA_DIST_BINOMIAL, 1e9, 0.5, 0);
	check_moments("binomial 1e9", &d, 8000, 5e8, 2.5e8, 0.08, 0, 1e9);
	d = mk(DAITA_DIST_BINOMIAL, 1e9, 1e-9, 0); /* DIST_MIN_PROBABILITY */
	check_moments("binomial 1e9 tiny p", &d, 8000, 1, 1 - 1e-9, 0.1, 0, 1e9);
	/* degenerate cases (trials 0 is in a real Mullvad machine) */
	d = mk(DAITA_DIST_BINOMIAL, 0, 0.73, 0);
	CHECK(daita_dist_sample_raw(&d, &g_rng) == 0);
	d = mk(DAITA_DIST_BINOMIAL, 17, 1.0, 0);
	CHECK(daita_dist_sample_raw(&d, &g_rng) == 17);
	d = mk(DAITA_DIST_BINOMIAL, 17, 0.0, 0);
	CHECK(daita_dist_sample_raw(&d, &g_rng) == 0);
}

static void test_geometric_poisson(void)
{
	struct daita_dist d = mk(DAITA_DIST_GEOMETRIC, 0.2, 0, 0);

	check_moments("geometric", &d, N_DRAWS, 4, 20, 0.04, 0, INFINITY);
	check_prob("geometric P(X=0)", &d, N_DRAWS, 0, 0, 0.2);
	d = mk(DAITA_DIST_GEOMETRIC, 1e-9, 0, 0);
	check_moments("geometric tiny p", &d, N_DRAWS, 1e9 - 1, 1e18, 0.04, 0, INFINITY);
	d = mk(DAITA_DIST_GEOMETRIC, 1.0, 0, 0);
	CHECK(daita_dist_sample_raw(&d, &g_rng) == 0);
	d = mk(DAITA_DIST_GEOMETRIC, 0.0, 0, 0); /* never succeeds: u64::MAX like rand_distr */
	CHECK(daita_dist_sample_raw(&d, &g_rng) == (double)UINT64_MAX);

	d = mk(DAITA_DIST_POISSON, 3.5, 0, 0); /* inversion */
	check_moments("poisson 3.5", &d, N_DRAWS, 3.5, 3.5, 0.025, 0, INFINITY);
	check_prob("poisson P(X=0)", &d, N_DRAWS, 0, 0, exp(-3.5));
	d = mk(DAITA_DIST_POISSON, 50, 0, 0); /* PTRS */
	check_moments("poisson 50", &d, N_DRAWS, 50, 50, 0.025, 0, INFINITY);
	check_prob("poisson P(X<=50)", &d, N_DRAWS, 0, 50, 0.537516690);
	d = mk(DAITA_DIST_POISSON, 12, 0, 0); /* PTRS lower edge */
	check_moments("poisson 12", &d, N_DRAWS, 12, 12, 0.025, 0, INFINITY);
	d = mk(DAITA_DIST_POISSON, 1e6, 0, 0);
	check_moments("poisson 1e6", &d, N_DRAWS, 1e6, 1e6, 0.025, 0, INFINITY);
	d = mk(DAITA_DIST_POISSON, 1e12, 0, 0); /* stable log-pmf path */
	check_moments("poisson 1e12", &d, N_DRAWS, 1e12, 1e12, 0.025, 0, INFINITY);
	d = mk(DAITA_DIST_POISSON, 1.8e19, 0, 0); /* near rand_distr's MAX_LAMBDA */
	check_moments("poisson 1.8e19", &d, 50000, 1.8e19, 1.8e19, 0.05, 0, INFINITY);
}

static void test_continuous(void)
{
	struct daita_dist d = mk(DAITA_DIST_PARETO, 2, 5, 0);
	double g1, g2;

	check_moments("pareto", &d, N_DRAWS, 2.5, 4.0 * 5 / (16 * 3), 0.08, 2, INFINITY);
	d = mk(DAITA_DIST_PARETO, 3, INFINITY, 0); /* +inf shape passes validation: constant */
	CHECK(daita_dist_sample_raw(&d, &g_rng) == 3);

	d = mk(DAITA_DIST_WEIBULL, 3, 1.5, 0);
	g1 = tgamma(1 + 1 / 1.5);
	g2 = tgamma(1 + 2 / 1.5);
	check_moments("weibull", &d, N_DRAWS, 3 * g1, 9 * (g2 - g1 * g1), 0.03, 0, INFINITY);
	d = mk(DAITA_DIST_WEIBULL, 37.894, 43.655, 0); /* the Mullvad client machine's */
	g1 = tgamma(1 + 1 / 43.655);
	g2 = tgamma(1 + 2 / 43.655);
	check_moments("weibull mullvad", &d, N_DRAWS, 37.894 * g1,
		      37.894 * 37.894 * (g2 - g1 * g1), 0.05, 0, INFINITY);

	/* Gamma is stored (scale, shape): scale 0.5, shape 4 -> mean 2, variance 1. Swapped it
	 * would be shape 0.5, scale 4: mean 2 but variance 8. */
	d = mk(DAITA_DIST_GAMMA, 0.5, 4, 0);
	check_moments("gamma (scale .5, shape 4)", &d, N_DRAWS, 2, 1, 0.03, 0, INFINITY);
	d = mk(DAITA_DIST_GAMMA, 1, 0.5, 0); /* shape < 1 path */
	check_moments("gamma shape .5", &d, N_DRAWS, 0.5, 0.5, 0.05, 0, INFINITY);
	d = mk(DAITA_DIST_GAMMA, 3, 1, 0); /* exponential */
	check_moments("gamma shape 1", &d, N_DRAWS, 3, 9, 0.05, 0, INFINITY);
	d = mk(DAITA_DIST_GAMMA, 2, 1e6, 0);
	check_moments("gamma shape 1e6", &d, N_DRAWS, 2e6, 4e6, 0.025, 0, INFINITY);

	d = mk(DAITA_DIST_BETA, 2, 5, 0);
	check_moments("beta", &d, N_DRAWS, 2.0 / 7, 10.0 / (49 * 8), 0.025, 0, 1);
	d = mk(DAITA_DIST_BETA, 0.5, 0.5, 0);
	check_moments("beta arcsine", &d, N_DRAWS, 0.5, 0.125, 0.025, 0, 1);
	d = mk(DAITA_DIST_BETA, 0.01, 0.02, 0); /* tiny shapes: no 0/0 */
	check_moments("beta tiny", &d, N_DRAWS, 1.0 / 3, (0.01 * 0.02) / (0.0009 * 1.03), 0.03, 0,
		      1);
}

/* ---- clamping ---- */

static void test_clamp(void)
{
	struct daita_dist d;

	d = constant(0, 5e6, 0); /* the crate's "pad after 5 s": Uniform(0,0) start 5e6 */
	CHECK(daita_dist_sample(&d, &g_rng) == 5e6);
	d = constant(10, 2.5, 0);
	CHECK(daita_dist_sample(&d, &g_rng) == 12.5);
	d = constant(-100, 0, 0); /* negative -> 0 */
	CHECK(daita_dist_sample(&d, &g_rng) == 0);
	d = constant(10, -30, 0); /* start can pull below 0 -> 0 */
	CHECK(daita_dist_sample(&d, &g_rng) == 0);
	d = constant(10, 5, 12); /* max includes start */
	CHECK(daita_dist_sample(&d, &g_rng) == 12);
	d = constant(10, 0, 0); /* max 0 = unclamped */
	CHECK(daita_dist_sample(&d, &g_rng) == 10);
	d = constant(10, 0, -5); /* only max > 0 clamps */
	CHECK(daita_dist_sample(&d, &g_rng) == 10);
	d = constant(10, 0, 10);
	CHECK(daita_dist_sample(&d, &g_rng) == 10);
	d = constant(-3, 0, 7); /* max does not lift negatives */
	CHECK(daita_dist_sample(&d, &g_rng) == 0);
	/* non-finite -> 0, before max applies */
	d = constant(0, 0, 5);
	CHECK(daita_dist_clamp(&d, INFINITY) == 0);
	CHECK(daita_dist_clamp(&d, -INFINITY) == 0);
	CHECK(daita_dist_clamp(&d, NAN) == 0);
	d = constant(1.7e308, 1.7e308, 0); /* raw + start overflows */
	CHECK(daita_dist_sample(&d, &g_rng) == 0);
	d = mk(DAITA_DIST_LOG_NORMAL, 1000, 0, 0); /* exp(1000) = inf */
	CHECK(daita_dist_sample(&d, &g_rng) == 0);
	d = mk(DAITA_DIST_GAMMA, 1, INFINITY, 0); /* +inf shape passes validation -> inf -> 0 */
	CHECK(daita_dist_sample(&d, &g_rng) == 0);
	d = mk(DAITA_DIST_GAMMA, INFINITY, 2, 0);
	CHECK(daita_dist_sample(&d, &g_rng) == 0);
	d = mk(DAITA_DIST_GEOMETRIC, 0, 0, 0);
	d.max = 1000; /* u64::MAX clamped by max */
	CHECK(daita_dist_sample(&d, &g_rng) == 1000);
	/* a sampled distribution with a clamp: everything lands in [0, max] */
	{
		int i, in = 1;
		d = mk(DAITA_DIST_NORMAL, 5, 10, 0);
		d.start = 1;
		d.max = 8;
		for (i = 0; i < 10000; i++) {
			double x = daita_dist_sample(&d, &g_rng);
			in &= x >= 0 && x <= 8;
		}
		CHECK(in);
	}
}

/* ---- integer conversions ---- */

static void test_conversions(void)
{
	struct daita_dist d;
	struct daita_action a;
	struct daita_counter c;

	CHECK_EQ_U64(daita_f64_to_u64_sat(NAN), 0);
	CHECK_EQ_U64(daita_f64_to_u64_sat(-1.0), 0);
	CHECK_EQ_U64(daita_f64_to_u64_sat(-INFINITY), 0);
	CHECK_EQ_U64(daita_f64_to_u64_sat(0.999), 0);
	CHECK_EQ_U64(daita_f64_to_u64_sat(3.99), 3);
	CHECK_EQ_U64(daita_f64_to_u64_sat(9223372036854775808.0), 9223372036854775808ULL);
	CHECK_EQ_U64(daita_f64_to_u64_sat(18446744073709549568.0), 18446744073709549568ULL);
	CHECK_EQ_U64(daita_f64_to_u64_sat(18446744073709551616.0), UINT64_MAX);
	CHECK_EQ_U64(daita_f64_to_u64_sat(INFINITY), UINT64_MAX);
	CHECK_EQ_U64(daita_f64_round_to_u64(2.5), 3); /* half away from zero, like Rust */
	CHECK_EQ_U64(daita_f64_round_to_u64(2.4999), 2);
	CHECK_EQ_U64(daita_f64_round_to_u64(0.5), 1);
	CHECK_EQ_U64(daita_f64_round_to_u64(-0.4), 0);
	CHECK_EQ_U64(daita_f64_round_to_u64(1e30), UINT64_MAX);

	/* timeouts / durations: rounded, capped at one day */
	d = constant(1.5, 0, 0);
	CHECK_EQ_U64(daita_sample_timeout_us(&d, &g_rng), 2);
	d = constant(1e12, 0, 0);
	CHECK_EQ_U64(daita_sample_timeout_us(&d, &g_rng), 86400000000ULL);
	CHECK_EQ_U64(daita_sample_block_duration_us(&d, &g_rng), 86400000000ULL);
	CHECK_EQ_U64(daita_sample_timer_duration_us(&d, &g_rng), 86400000000ULL);
	d = constant(86400000000.4, 0, 0);
	CHECK_EQ_U64(daita_sample_timer_duration_us(&d, &g_rng), 86400000000ULL);
	d = constant(-5, 0, 0);
	CHECK_EQ_U64(daita_sample_timeout_us(&d, &g_rng), 0);
	d = constant(0, 20000, 0);
	CHECK_EQ_U64(daita_sample_timeout_us(&d, &g_rng), 20000);

	/* limits: rounded, saturating; no limit dist = STATE_LIMIT_MAX */
	memset(&a, 0, sizeof(a));
	a.kind = DAITA_ACTION_SEND_PADDING;
	CHECK_EQ_U64(daita_sample_action_limit(&a, &g_rng), DAITA_STATE_LIMIT_MAX);
	a.has_limit = true;
	a.limit = constant(4.5, 0, 0);
	CHECK_EQ_U64(daita_sample_action_limit(&a, &g_rng), 5);
	a.limit = constant(4.49, 0, 0);
	CHECK_EQ_U64(daita_sample_action_limit(&a, &g_rng), 4);
	a.limit = constant(1e30, 0, 0);
	CHECK_EQ_U64(daita_sample_action_limit(&a, &g_rng), UINT64_MAX);
	a.limit = constant(0.4, 0, 0);
	CHECK_EQ_U64(daita_sample_action_limit(&a, &g_rng), 0);

	/* counter values: truncated, not rounded; no dist = 1 */
	memset(&c, 0, sizeof(c));
	CHECK_EQ_U64(daita_sample_counter_value(&c, &g_rng), 1);
	c.has_dist = true;
	c.dist = constant(3.9, 0, 0);
	CHECK_EQ_U64(daita_sample_counter_value(&c, &g_rng), 3);
	c.dist = constant(0.999, 0, 0);
	CHECK_EQ_U64(daita_sample_counter_value(&c, &g_rng), 0);
	c.dist = constant((double)UINT64_MAX, 0, 0);
	CHECK_EQ_U64(daita_sample_counter_value(&c, &g_rng), UINT64_MAX);
	c.dist = constant(1e300, 0, 0);
	CHECK_EQ_U64(daita_sample_counter_value(&c, &g_rng), UINT64_MAX);
}

/* ---- hostile parameters and broken RNGs: never NaN out of daita_dist_sample, never hang */

static void test_robustness(void)
{
	static const double bad[][3] = {
		{ 5, 1, 0 }, { NAN, 1, 0 }, { 0, INFINITY, 0 }, { -1.7e308, 1.7e308, 0 },
	};
	struct daita_dist d;
	uint64_t constants[] = { 0, UINT64_MAX, 1ULL << 63, 0x5555555555555555ULL };
	size_t i, k;
	int t;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		d = mk(DAITA_DIST_UNIFORM, bad[i][0], bad[i][1], 0);
		CHECK(isnan(daita_dist_sample_raw(&d, &g_rng)));
		CHECK(daita_dist_sample(&d, &g_rng) == 0);
	}
	d = mk(DAITA_DIST_NORMAL, 0, INFINITY, 0);
	CHECK(isnan(daita_dist_sample_raw(&d, &g_rng)));
	d = mk(DAITA_DIST_SKEW_NORMAL, 0, -1, 0);
	CHECK(isnan(daita_dist_sample_raw(&d, &g_rng)));
	d = mk(DAITA_DIST_BINOMIAL, 10, 1.5, 0);
	CHECK(isnan(daita_dist_sample_raw(&d, &g_rng)));
	d = mk(DAITA_DIST_GEOMETRIC, -0.1, 0, 0);
	CHECK(isnan(daita_dist_sample_raw(&d, &g_rng)));
	d = mk(DAITA_DIST_PARETO, -1, 1, 0);
	CHECK(isnan(daita_dist_sample_raw(&d, &g_rng)));
	d = mk(DAITA_DIST_POISSON, 0, 0, 0);
	CHECK(isnan(daita_dist_sample_raw(&d, &g_rng)));
	d = mk(DAITA_DIST_WEIBULL, 1, NAN, 0);
	CHECK(isnan(daita_dist_sample_raw(&d, &g_rng)));
	d = mk(DAITA_DIST_GAMMA, 1, 0, 0);
	CHECK(isnan(daita_dist_sample_raw(&d, &g_rng)));
	d = mk(DAITA_DIST_BETA, 0, 1, 0);
	CHECK(isnan(daita_dist_sample_raw(&d, &g_rng)));
	d.type = (enum daita_dist_type)99;
	CHECK(isnan(daita_dist_sample_raw(&d, &g_rng)));

	/* every sampler terminates with a finite result under constant RNG output */
	for (k = 0; k < sizeof(constants) / sizeof(constants[0]); k++) {
		struct counting_rng c = { constants[k], 0 };
		daita_rng cr = { counting_next, &c };
		static const double params[DAITA_DIST_TYPE_NUM][3] = {
			{ 1, 2, 0 }, { 0, 1, 0 }, { 0, 1, 3 }, { 0, 1, 0 }, { 1e9, 0.5, 0 },
			{ 1e-9, 0, 0 }, { 1, 1, 0 }, { 1e6, 0, 0 }, { 1, 1, 0 }, { 1, 0.1, 0 },
			{ 0.1, 0.1, 0 },
		};
		for (t = 0; t < DAITA_DIST_TYPE_NUM; t++) {
			double x;
			d = mk((enum daita_dist_type)t, params[t][0], params[t][1], params[t][2]);
			x = daita_dist_sample(&d, &cr);
			CHECK_MSG(isfinite(x) && x >= 0, "type %d constant rng %zu: %g", t, k, x);
		}
		CHECK(c.draws < 100000);
	}
}

/* ---- ChaCha20 generator ---- */

static void test_csprng(void)
{
	/* RFC 8439 §2.3.2 block function test vector */
	static const char expect_hex[] =
		"10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e"
		"d2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e";
	uint32_t key[8], nonce[3] = { 0x09000000, 0x4a000000, 0 };
	uint8_t out[64], expect[64], seed[32];
	struct daita_csprng a, b;
	daita_rng ra, rb;
	int i, same = 1, differ = 0;
	double sum = 0;

	for (i = 0; i < 8; i++)
		key[i] = (uint32_t)(4 * i) | (uint32_t)(4 * i + 1) << 8 |
			 (uint32_t)(4 * i + 2) << 16 | (uint32_t)(4 * i + 3) << 24;
	daita_chacha20_block(out, key, 1, nonce);
	CHECK_EQ_INT(test_unhex(expect, sizeof(expect), expect_hex), 64);
	CHECK_MEM(out, expect, 64);

	for (i = 0; i < 32; i++)
		seed[i] = (uint8_t)(i * 7 + 1);
	daita_csprng_init(&a, seed);
	daita_csprng_init(&b, seed);
	ra = daita_csprng_rng(&a);
	rb = daita_csprng_rng(&b);
	/* same seed, same stream, across several refills */
	for (i = 0; i < 1000; i++)
		same &= daita_rng_u64(&ra) == daita_rng_u64(&rb);
	CHECK(same);
	seed[0] ^= 1;
	daita_csprng_init(&b, seed);
	for (i = 0; i < 100; i++)
		differ += daita_rng_u64(&ra) != daita_rng_u64(&rb);
	CHECK(differ > 95);
	/* the key changed (fast key erasure) and the handed-out bytes were wiped */
	CHECK(memcmp(a.key, seed, 32) != 0);
	CHECK(a.pos > 32 && a.buf[a.pos - 1] == 0 && a.buf[a.pos - 8] == 0);
	for (i = 0; i < 100000; i++)
		sum += daita_rng_f64(&ra);
	CHECK(fabs(sum / 100000 - 0.5) < 0.006);
	daita_csprng_wipe(&a);
	CHECK(a.key[0] == 0 && a.key[7] == 0);
	/* still usable after a wipe (all-zero key) rather than reading garbage */
	(void)daita_rng_u64(&ra);
	daita_csprng_wipe(&a);
	daita_csprng_wipe(&b);
}

int main(void)
{
	test_uniform();
	test_normals();
	test_binomial();
	test_geometric_poisson();
	test_continuous();
	test_clamp();
	test_conversions();
	test_robustness();
	test_csprng();
	return test_finish("daita_dist");
}
