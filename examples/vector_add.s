; c = a + b for 8 vectors of int8 (wrapping), through the VXM.
;
; a comes from mem0 on the eastward stream e0, b from mem5 on the westward stream w0; they meet
; at vxm0, and the sum travels east on e1 to mem4. Floorplan of tiny and small16, west to east:
;   position  0    1    2    3    4    5    6
;   slice     mem0 mem1 mem2 mem3 vxm0 mem4 mem5
; A value written at position p in cycle t is at p+k (eastward) or p-k (westward) in cycle t+k.
; The waits below are derived with latency() and position(), so they follow the timing table:
; with read, add.i8 and write all taking 1 cycle they come to 2, 5 and 7.
;
;   conveyor run examples/vector_add.s --dump mem4:0:8

.equ N, 8                                       ; vectors
.equ MEET, latency(read) + position(vxm0) - position(mem0)   ; a[0] reaches vxm0: cycle 5

.queue mem0.rd
    read 0 -> e0                ; cycle 0: a[0] on e0 at position 0 one cycle later
    repeat N-1, 1, 1            ; a[1..7] in cycles 1..7

.queue mem5.rd
    nop MEET - latency(read) - (position(mem5) - position(vxm0))
    read 0 -> w0                ; cycle 2: b[0] reaches vxm0 in cycle 5 too
    repeat N-1, 1, 1

.queue vxm0.alu0
    nop MEET
    add.i8 e0, w0 -> e1         ; cycle 5: a[0] + b[0] on e1 at vxm0 one cycle later
    repeat N-1, 1

.queue mem4.wr
    nop MEET + latency(add.i8) + position(mem4) - position(vxm0)
    write e1 -> 0               ; cycle 7: the sum passes mem4
    repeat N-1, 1, 1

.data mem0 @ 0
    .random N, seed=1
.data mem5 @ 0
    .random N, seed=2
