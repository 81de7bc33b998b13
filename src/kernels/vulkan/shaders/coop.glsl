// Cooperative-matrix primitives for the prompt matmul (matmul_coop.comp), in three
// implementations chosen by one define, so that the kernel's tiling, indexing, bounds
// and MoE routing are written once:
//   COOP_NV   GL_NV_cooperative_matrix (what glslang 12 and the Debian 12 headers know;
//             NVIDIA drivers expose it)
//   COOP_KHR  GL_KHR_cooperative_matrix (built only where glslang knows it, see
//             cmake/shaders.cmake)
//   COOP_EMU  plain GLSL 450 doing the same arithmetic without the units, so that the
//             kernel runs (and is tested) on any device, lavapipe included
// All three: 16x16x16 fragments, operands as 16-bit floats in shared memory, fp32
// accumulation. A is row-major (A[i][k] at off + i*stride + k), B is column-major
// (B[k][j] at off + j*stride + k: the activation tile xs[token][k] read as X^T), the
// accumulator is stored column-major (C[i][j] at off + j*stride + i) into a float shared
// array, so that the kernel's write-out reads it along i (weight rows) without bank
// conflicts.
//
// The including shader declares, before including this file, its operand arrays
// `shared COOP_ELEM <a>[]`, `<b>[]` and names them COOP_A_SHARED / COOP_B_SHARED (the
// emulation reads them in coop_mul_add); the extensions, COOP_ELEM and coop_round()
// come from coop_elem.glsl, included at the top. Every primitive is called by all 32
// invocations of a group together (coop_group() numbers the groups).
#define COOP_M 16u
#define COOP_GROUP 32u
// Loops over fragments are unrolled for the units (fragments live in registers, indexed by
// constants); the emulation's fragments are offsets into shared memory: nothing to gain.
#if defined(COOP_EMU)
#define COOP_UNROLL
#else
#define COOP_UNROLL [[unroll]]
#endif

#if defined(COOP_NV)
#define COOP_A fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>
#define COOP_B fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>
#define COOP_ACC fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>
#define coop_acc_zero(c) c = COOP_ACC(0.0)
#define coop_load_a(a, off, stride) coopMatLoadNV(a, COOP_A_SHARED, off, stride, false)
#define coop_load_b(b, off, stride) coopMatLoadNV(b, COOP_B_SHARED, off, stride, true)
#define coop_mul_add(c, a, b) c = coopMatMulAddNV(a, b, c)
#define coop_store(c, arr, off, stride) coopMatStoreNV(c, arr, off, stride, true)
// The device check requires subgroups of 32, so the 4 subgroups of a 128-invocation
// workgroup are the 4 fragment groups.
#define coop_group() gl_SubgroupID

#elif defined(COOP_KHR)
#define COOP_A coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseA>
#define COOP_B coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseB>
#define COOP_ACC coopmat<float, gl_ScopeSubgroup, 16, 16, gl_MatrixUseAccumulator>
#define coop_acc_zero(c) c = COOP_ACC(0.0)
#define coop_load_a(a, off, stride) coopMatLoad(a, COOP_A_SHARED, off, stride, gl_CooperativeMatrixLayoutRowMajor)
#define coop_load_b(b, off, stride) coopMatLoad(b, COOP_B_SHARED, off, stride, gl_CooperativeMatrixLayoutColumnMajor)
#define coop_mul_add(c, a, b) c = coopMatMulAdd(a, b, c)
#define coop_store(c, arr, off, stride) coopMatStore(c, arr, off, stride, gl_CooperativeMatrixLayoutColumnMajor)
#define coop_group() gl_SubgroupID

#elif defined(COOP_EMU)
// A group is 32 consecutive invocations, whatever the device's subgroup size. An operand
// fragment is where it lies in shared memory: the kernel fills the operand arrays, then
// (after a barrier) loads and multiplies within one barrier interval, so reading shared
// memory at coop_mul_add sees what a real load would have copied. The accumulator is
// spread over the group: lane l holds row l/2, columns 8*(l%2) .. +7, in fp32.
struct coop_frag { uint off, stride; };
struct coop_acc { float v[8]; };
#define COOP_A coop_frag
#define COOP_B coop_frag
#define COOP_ACC coop_acc
#define coop_acc_zero(c) for (uint _e = 0u; _e < 8u; _e++) c.v[_e] = 0.0
#define coop_load_a(a, off, stride) a = coop_frag(off, stride)
#define coop_load_b(b, off, stride) b = coop_frag(off, stride)
#define coop_group() (gl_LocalInvocationIndex / COOP_GROUP)
void coop_emu_mul_add(inout coop_acc c, coop_frag a, coop_frag b) {
    uint l = gl_LocalInvocationIndex % COOP_GROUP, i = l >> 1, j0 = (l & 1u) * 8u;
    float ar[16];   // this lane's row of A, read once
    for (uint k = 0u; k < COOP_M; k++) ar[k] = float(COOP_A_SHARED[a.off + i * a.stride + k]);
    for (uint e = 0u; e < 8u; e++) {
        float s = c.v[e];
        for (uint k = 0u; k < COOP_M; k++) s += ar[k] * float(COOP_B_SHARED[b.off + (j0 + e) * b.stride + k]);
        c.v[e] = s;
    }
}
#define coop_mul_add(c, a, b) coop_emu_mul_add(c, a, b)
#define coop_store(c, arr, off, stride) \
    for (uint _e = 0u; _e < 8u; _e++) \
        arr[(off) + ((gl_LocalInvocationIndex & 1u) * 8u + _e) * (stride) + ((gl_LocalInvocationIndex % COOP_GROUP) >> 1)] = c.v[_e]

#else
#error "define COOP_NV, COOP_KHR or COOP_EMU"
#endif
