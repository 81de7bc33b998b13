// Shared by every shader: a flat invocation index over a 2-D grid (the host folds counts
// above maxComputeWorkGroupCount[0] into y), and the workgroup index likewise.
uint flat_gid() {
    return gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
}
uint flat_wg() { return gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x; }
