/* motion.h: the motion representation (paper Eq. 1; MotionStreamer's 272-dim layout) for a
 * skeleton read from BVH.
 *
 * Per frame (30 fps, Y up, metres), for N joints of the skeleton:
 *   [0:2]        root velocity on the ground (x, z), in the current heading frame
 *   [2:8]        heading change between frames as 6D rotation (first two rows of the matrix)
 *   [8:8+3N]     root-relative, heading-free joint positions (y = height above the floor)
 *   [8+3N:8+6N]  their per-frame differences
 *   [8+6N:8+12N] joint rotations relative to the rest pose in 6D (parent-relative; the root's
 *                own rotation heading-free)
 * Features -> BVH accumulates the heading and sums the velocities. For a skeleton whose rest axes
 * are bone-aligned (the Bandai-Namco data), the heading is the root's global rotation applied to
 * the rest pose's forward direction (from hips and shoulders). docs/motion.md gives the details
 * (exact formulas, the first frame, the floor, units, how joints are matched).
 */
#ifndef LLAMO_MOTION_H
#define LLAMO_MOTION_H
#include "api.h"
#include "bvh.h"
#include "status.h"

#define LM_MOTION_FPS 30

typedef struct lm_skeleton {
	int njoints;               /* N joints that carry features */
	lm_bvh hier;               /* the rest-pose hierarchy, as the writer emits it (no frames) */
	double scale;              /* file units per metre (100 for centimetres) */
	double forward[3];         /* rest-pose forward direction (unit, ground plane) */
	/* private fields may follow */
	int map[LM_BVH_MAX_JOINTS]; /* skeleton joint i -> its joint index in the skeleton file */
	char order[4];              /* the one Euler order of the output, e.g. "ZXY" */
	double rest_grot[LM_BVH_MAX_JOINTS][9]; /* rest-pose global rotations G_rest (row-major) */
	double rest_gpos[LM_BVH_MAX_JOINTS][3]; /* rest-pose global positions, file units */
} lm_skeleton;

/* Loads the skeleton from a BVH rest-pose file (the model's skeleton.bvh): its hierarchy and its
 * first frame as the rest pose. Errors: LM_ENOINPUT (cannot open), LM_EDATA, LM_EIO. */
int lm_skeleton_load(lm_skeleton *sk, const char *path, lm_status *st);
/* The same from a parsed BVH (frame 0 is the rest pose; name is used in messages).
 * Leading joints with one child and all channels zero (Bandai-Namco's joint_Root) are dropped:
 * the skeleton is rooted at the first joint below them. Errors: LM_EDATA (no frame). */
int lm_skeleton_from_bvh(lm_skeleton *sk, const lm_bvh *b, const char *name, lm_status *st);
void lm_skeleton_free(lm_skeleton *sk);
int lm_feature_dim(const lm_skeleton *sk); /* 8 + 12 * njoints */
/* Finds the skeleton's joints in b by name: map[i] (njoints entries) = index in b. Every joint
 * must be there and the parent of each must be an ancestor of it in b. Errors: LM_EDATA naming
 * the first joint missing or misplaced. */
int lm_skeleton_match(const lm_skeleton *sk, const lm_bvh *b, int *map, lm_status *st);

/* BVH -> features. The BVH must have the skeleton's joints (by name; extra joints with zero
 * channels, such as the Bandai-Namco joint_Root, are allowed). Resamples nothing: the BVH must be
 * at 30 fps (LM_EDATA otherwise). *feat is malloc'd (nframes, dim); *nframes as in the BVH.
 * Errors: LM_EDATA (joints, frame rate, no frames), LM_ENOMEM. */
LM_API int lm_motion_from_bvh(const lm_skeleton *sk, const lm_bvh *b, float **feat, int *nframes, lm_status *st);
/* features (nframes, dim) -> BVH on the skeleton (root 6 channels, others 3, one Euler order).
 * The first frame's root is placed at x = z = 0 facing the rest pose's forward direction.
 * out is filled (free with lm_bvh_free). Errors: LM_EDATA (a value not finite), LM_ENOMEM. */
LM_API int lm_motion_to_bvh(const lm_skeleton *sk, const float *feat, int nframes, lm_bvh *out, lm_status *st);
/* Global joint positions (nframes, N, 3) in metres of a BVH on the skeleton (forward kinematics);
 * used by the round-trip test and by mpjpe. The root's position and every global rotation come
 * from b's channels; the bone offsets are the skeleton's. *pos is malloc'd.
 * Errors: LM_EDATA (joints), LM_ENOMEM. */
LM_API int lm_bvh_positions(const lm_skeleton *sk, const lm_bvh *b, double **pos, lm_status *st);
/* The ground alignment of two poses: the yaw a and the ground-plane centroids c1 (of p) and c2
 * (of q) with q ~ Ry(a) (p - c1) + c2, least squares over the N points (x, y, z) of one frame.
 * Decoded motion starts at the origin facing +Z (features store no start position or heading),
 * so comparisons with the original clip align frame 0 this way first. */
void lm_fit_ground(const double *p, const double *q, int N, double *a, double c1[2], double c2[2]);
#endif
