/* bvh.h: BVH motion files (Biovision hierarchy), read and written.
 *
 * Reader: any hierarchy of ROOT/JOINT/End Site with 3 or 6 channels per joint in any rotation
 * order; Frames must equal the number of data lines, every value a number, braces balanced.
 * Writer (what Blender's importer takes cleanly): the root with 6 channels (Xposition Yposition
 * Zposition then the rotations), 3 rotation channels on every other joint, one Euler order for
 * all joints, Frames equal to the data lines, "Frame Time: 0.033333" at 30 fps.
 *
 * Conventions (as Blender's importer and most tools read BVH): a joint's rotation channels
 * c1 c2 c3 give R = R_c1(a1) R_c2(a2) R_c3(a3) (column vectors, right-handed, degrees), so
 * "Zrotation Xrotation Yrotation" is R = Rz Rx Ry. A joint with position channels takes them as
 * its translation from the parent, in place of the OFFSET (axes without a channel keep the
 * OFFSET value). Global: G_j = G_parent L_j, p_j = p_parent + G_parent t_j.
 * Matrices are 3x3, row-major, double.
 */
#ifndef LLAMO_BVH_H
#define LLAMO_BVH_H
#include "api.h"
#include <stddef.h>
#include <stdio.h>
#include "status.h"

#define LM_BVH_MAX_JOINTS 256
#define LM_BVH_NAME 64

typedef struct lm_bvh_joint {
	char name[LM_BVH_NAME];
	int parent;        /* index of the parent joint, -1 for the root */
	double offset[3];  /* rest offset from the parent, file units */
	int nchan;         /* 0, 3 or 6 */
	char chan[6];      /* per channel: 'X','Y','Z' position -> 'x','y','z'; rotation -> 'X','Y','Z' */
	int has_end;       /* has an End Site */
	double end[3];     /* End Site offset */
} lm_bvh_joint;

typedef struct lm_bvh {
	int njoints;
	lm_bvh_joint joints[LM_BVH_MAX_JOINTS]; /* depth-first file order; parents come first */
	int nframes;
	double frame_time; /* seconds */
	int nchannels;     /* sum of nchan */
	double *motion;    /* (nframes, nchannels) in file order, degrees for rotations */
} lm_bvh;

/* Parses a BVH from f (name is used in messages: "clip.bvh:42: expected '{'").
 * Errors: LM_EDATA (with "name:line: message"), LM_EIO, LM_ENOMEM. On failure b is left empty
 * (nothing to free, though lm_bvh_free is harmless). */
LM_API int lm_bvh_read(lm_bvh *b, FILE *f, const char *name, lm_status *st);
LM_API int lm_bvh_parse(lm_bvh *b, const char *text, size_t len, const char *name, lm_status *st);
/* Writes b as BVH text: tabs for indentation, %.6f for offsets and values, "Frames: N",
 * "Frame Time: %.6f". Errors: LM_EIO, LM_EDATA (an inconsistent struct). */
LM_API int lm_bvh_write(const lm_bvh *b, FILE *f, lm_status *st);
LM_API void lm_bvh_free(lm_bvh *b);

/* Index of the joint called name, or -1. */
LM_API int lm_bvh_find(const lm_bvh *b, const char *name);
/* The axes of joint j's rotation channels in file order, e.g. "ZXY" (NUL-terminated, 4 bytes);
 * returns the number of rotation channels (0 or 3). */
int lm_bvh_rot_order(const lm_bvh_joint *j, char order[4]);
/* R = R_o0(deg[0]) R_o1(deg[1]) R_o2(deg[2]) for an order such as "ZXY". */
void lm_euler_to_mat(const char *order, const double deg[3], double R[9]);
/* The inverse: angles in degrees (middle angle in [-90, 90]) with lm_euler_to_mat(order, deg) = R
 * for a rotation matrix R; at gimbal lock the last angle is 0. */
void lm_mat_to_euler(const char *order, const double R[9], double deg[3]);
/* Forward kinematics of frame `frame` with the file's own channels (see the conventions above):
 * grot (njoints, 9) global rotations, gpos (njoints, 3) global positions in file units.
 * Either output may be NULL. frame must be in [0, nframes); with nframes == 0 pass frame -1 for
 * the channel-free pose (identity rotations, OFFSETs). */
LM_API void lm_bvh_fk(const lm_bvh *b, int frame, double *grot, double *gpos);
#endif
