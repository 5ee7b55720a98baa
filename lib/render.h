/* render.h: a software stick-figure renderer for motion previews (mrender(1)), and the image
 * files it writes (PNG through libpng, animated GIF through giflib, binary PPM).
 *
 * A figure is the joint positions of a clip, frame by frame (forward kinematics of a BVH, Y up,
 * file units), and its bones. A view is a perspective camera looking at the figure from a given
 * azimuth and elevation, fixed (framing the whole clip) or following the root. A frame is drawn
 * as: a checkered ground plane at the floor height fading into the background, the root path on
 * the ground (the part already walked stronger), the bones' shadows straight below them, then the
 * bones as thick antialiased lines and the joints as dots, far to near. Left limbs are blue,
 * right limbs red, the rest dark grey (by joint name: "_L", "Left", "L_" ...).
 *
 * Images are 8-bit RGB, rows top to bottom, 3 bytes per pixel, no padding.
 */
#ifndef LLAMO_RENDER_H
#define LLAMO_RENDER_H
#include <stdint.h>
#include <stdio.h>
#include "bvh.h"
#include "status.h"

typedef struct lm_figure {
	int nframes;
	double fps;       /* frames per second of the clip */
	int npoints;      /* drawn joints, then End Site tips */
	double *pos;      /* (nframes, npoints, 3) world positions, file units, Y up */
	int nbones;
	int (*bone)[2];   /* (nbones, 2) point indices: from, to */
	int *side;        /* (nbones) -1 left, 0 centre, 1 right */
	int root;         /* point whose ground projection is the root path */
	double height;    /* the figure's size: largest extent of one pose over the clip */
} lm_figure;

/* Builds the figure of a BVH clip with lm_bvh_fk. Leading joints with one child whose channels
 * are zero in every frame (Bandai-Namco's joint_Root) are not drawn; End Sites with a non-zero
 * offset become tips. Errors: LM_EDATA (no frames, a frame time not > 0), LM_ENOMEM. */
int lm_figure_from_bvh(lm_figure *fig, const lm_bvh *b, lm_status *st);
void lm_figure_free(lm_figure *fig);
/* The lowest point of the figure over the clip (for --floor auto), file units. */
double lm_figure_lowest(const lm_figure *fig);

typedef struct lm_view {
	int width, height; /* pixels, each >= 16 */
	int follow;        /* 1: the camera moves with the root (smoothed over 0.5 s); 0: fixed */
	double azimuth;    /* degrees about Y; 0 looks from +Z towards -Z, 90 from +X */
	double elevation;  /* degrees above the ground, in (-90, 90) */
	double floor;      /* height of the ground plane, file units */
	/* set by lm_view_fit: */
	double dist, focal, target[3], right[3], up[3], back[3], tile;
	double *track;     /* follow: (nframes, 2) smoothed root x, z; NULL when fixed */
	uint8_t *ground;   /* fixed: the ground image, drawn once (width*height*3) */
} lm_view;

/* Places the camera so that every pose of the clip fits the image with a margin: fixed, the
 * whole clip with its path; follow, each pose around the root, at one distance for all frames.
 * Fill width, height, follow, azimuth, elevation and floor first. Errors: LM_EUSAGE (size,
 * angles), LM_ENOMEM. */
int lm_view_fit(lm_view *v, const lm_figure *fig, lm_status *st);
void lm_view_free(lm_view *v);

/* Draws frame `frame` (0..nframes-1) of the figure into rgb (v->width x v->height x 3); with
 * label, the time ("1.50 s") in the top-left corner. */
void lm_render_frame(const lm_figure *fig, const lm_view *v, int frame, int label, uint8_t *rgb);

/* A contact sheet: npose evenly spaced frames (the first and the last included; fewer when the
 * clip is shorter) in panels of v's size, `columns` per row, separated by 2-pixel lines, each
 * with its time when label is set. *rgb is malloc'd (*w x *h x 3). Errors: LM_ENOMEM. */
int lm_render_sheet(const lm_figure *fig, const lm_view *v, int npose, int columns, int label,
		    uint8_t **rgb, int *w, int *h, lm_status *st);

/* Image files. Errors: LM_EIO (with the library's message), LM_ENOMEM. */
int lm_png_write(FILE *f, const uint8_t *rgb, int w, int h, lm_status *st);
int lm_ppm_write(FILE *f, const uint8_t *rgb, int w, int h, lm_status *st); /* P6, maxval 255 */

/* An animated GIF (GIF89a, loops forever): a fixed 252-colour palette (6x7x6 levels) with 4x4
 * ordered dithering; each frame after the first stores only the rectangle that changed. Frame k
 * is shown until time (k+1)/fps, rounded to the GIF's 1/100 s. */
typedef struct lm_gif lm_gif;
int lm_gif_begin(lm_gif **g, FILE *f, int w, int h, double fps, lm_status *st);
int lm_gif_frame(lm_gif *g, const uint8_t *rgb, lm_status *st);
int lm_gif_end(lm_gif *g, lm_status *st); /* writes the trailer and frees g (also on error) */
#endif
