/* bvh-fk: our forward kinematics (lm_bvh_fk) of a BVH's rest pose and of one frame, one line per
 * joint: "rest NAME X Y Z" (the channel-free pose: OFFSETs only) and "frame NAME X Y Z" (frame N,
 * default 0), world positions in the file's units and axes. tests/blender.t compares them with
 * the joints of the armature Blender's importer builds.
 *
 *   bvh-fk [--frame N] FILE.bvh */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bvh.h"

int main(int argc, char **argv)
{
	int frame = 0, a = 1;
	if (argc > 2 && !strcmp(argv[1], "--frame"))
		frame = atoi(argv[2]), a = 3;
	if (a != argc - 1) {
		fprintf(stderr, "usage: bvh-fk [--frame N] FILE.bvh\n");
		return 64;
	}
	FILE *f = fopen(argv[a], "r");
	if (!f) {
		perror(argv[a]);
		return 66;
	}
	static lm_bvh b;
	lm_status st = {0};
	if (lm_bvh_read(&b, f, argv[a], &st)) {
		fprintf(stderr, "bvh-fk: %s\n", st.msg);
		return st.code;
	}
	fclose(f);
	if (frame < 0 || frame >= b.nframes) {
		fprintf(stderr, "bvh-fk: %s: no frame %d (%d frames)\n", argv[a], frame, b.nframes);
		return 65;
	}
	static double pos[LM_BVH_MAX_JOINTS * 3];
	for (int pass = 0; pass < 2; pass++) {
		lm_bvh_fk(&b, pass ? frame : -1, NULL, pos);
		for (int j = 0; j < b.njoints; j++)
			printf("%s %s %.6f %.6f %.6f\n", pass ? "frame" : "rest", b.joints[j].name, pos[3 * j],
			       pos[3 * j + 1], pos[3 * j + 2]);
	}
	lm_bvh_free(&b);
	return 0;
}
