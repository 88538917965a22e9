/* Sampling the eleven Maybenot distributions (maybenot 2.2.x dist.rs on top of rand_distr
 * 0.5), from an injected daita_rng. The samplers are our own implementations of standard
 * algorithms: same distributions and parameter conventions as Rust, not the same stream.
 *
 * Robustness: every sampler terminates for any parameters and any RNG output (rejection loops
 * are bounded by DAITA_DIST_MAX_TRIES), and returns NaN for parameters outside its domain
 * (which daita_dist_sample then maps to 0). Validated machines never hit either case. */
#ifndef WGTUN_DAITA_DIST_H
#define WGTUN_DAITA_DIST_H

#include "daita/machine.h"
#include "daita/rng.h"

#include <stdint.h>

/* Bound on rejection-sampling rounds. The expected number is ~1.1; reaching the bound with a
 * real RNG has probability far below 2^-128, so it only matters against a broken RNG (the
 * sampler then returns a deterministic in-support fallback instead of hanging). */
#define DAITA_DIST_MAX_TRIES 256
/* Binomial: trials at or below this are simulated directly (one uniform each); larger ones
 * are split by Knuth's beta recursion first (O(log trials) steps). */
#define DAITA_BINOMIAL_DIRECT_MAX 64

/* ---- raw samplers (no start/max) ---- */
double daita_sample_uniform(const daita_rng *r, double low, double high); /* [low, high) */
double daita_sample_std_normal(const daita_rng *r);
double daita_sample_normal(const daita_rng *r, double mean, double stdev);
double daita_sample_skew_normal(const daita_rng *r, double location, double scale,
				double shape);
double daita_sample_log_normal(const daita_rng *r, double mu, double sigma);
double daita_sample_binomial(const daita_rng *r, uint64_t trials, double p);
/* failures before the first success; p == 0 gives u64::MAX (as a double) like rand_distr */
double daita_sample_geometric(const daita_rng *r, double p);
double daita_sample_pareto(const daita_rng *r, double scale, double shape);
double daita_sample_poisson(const daita_rng *r, double lambda);
double daita_sample_weibull(const daita_rng *r, double scale, double shape);
/* Gamma with shape k and scale theta (mean k*theta). NOTE the Maybenot Dist stores
 * (scale, shape); daita_dist_sample_raw passes them in this (shape, scale) order. */
double daita_sample_gamma(const daita_rng *r, double shape, double scale);
double daita_sample_beta(const daita_rng *r, double alpha, double beta);

/* The raw sample of d's distribution. */
double daita_dist_sample_raw(const struct daita_dist *d, const daita_rng *r);
/* Maybenot's clamp: x = raw + start; non-finite -> 0; x = max(0, x); if max > 0,
 * x = min(x, max). The result is always finite and >= 0. */
double daita_dist_clamp(const struct daita_dist *d, double raw);
/* daita_dist_clamp(d, daita_dist_sample_raw(d, r)). */
double daita_dist_sample(const struct daita_dist *d, const daita_rng *r);

/* ---- integer conversions (Rust `as u64`: NaN and negatives -> 0, saturating) ---- */
uint64_t daita_f64_to_u64_sat(double x);      /* truncates toward zero */
uint64_t daita_f64_round_to_u64(double x);    /* rounds half away from zero first */

/* Action timeout / block duration / timer duration in µs: round(min(sample, MAX_SAMPLED_*)). */
uint64_t daita_sample_timeout_us(const struct daita_dist *d, const daita_rng *r);
uint64_t daita_sample_block_duration_us(const struct daita_dist *d, const daita_rng *r);
uint64_t daita_sample_timer_duration_us(const struct daita_dist *d, const daita_rng *r);
/* An action's state limit: round(sample) saturated; DAITA_STATE_LIMIT_MAX without a limit. */
uint64_t daita_sample_action_limit(const struct daita_action *a, const daita_rng *r);
/* A counter's update value: 1 without a dist, else the sample truncated (not rounded). The
 * copy flag is the framework's business (it needs the other counter). */
uint64_t daita_sample_counter_value(const struct daita_counter *c, const daita_rng *r);

#endif
