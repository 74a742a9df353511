; Requantise int32 vectors to int8, as at the end of a quantised layer.
;
; The int32 inputs are stored as four byte planes, byte k in mem<k> (the .data line below does
; the split). Each slice reads its plane one cycle after its western neighbour, so the four bytes
; reach vxm0 together (cycle 5) as the stream group e0:4. ALU 0 requantises onto the westward
; stream w0 and mem3 stores it at word 64; ALU 1 applies the fused-ReLU variant to the same group
; onto w1, and mem2 stores that at word 64. (The results go west because a result written onto
; e0 at vxm0 would replace byte 0 of the group that the next cycle's requant reads there, and
; tiny has no eastward stream beyond e0:4.)
;   position  0    1    2    3    4    5    6
;   slice     mem0 mem1 mem2 mem3 vxm0 mem4 mem5
; requant is TFLite/gemmlowp's MultiplyByQuantizedMultiplier: here the scale is
; 1518500250 / 2^31 / 2^7 = 0.005524, the zero point -3.
;
;   conveyor run examples/requant.s --dump mem3:64:4 --dump mem2:64:4

.equ N, 16                      ; vectors
.equ MUL, 1518500250            ; Q0.31 multiplier, 0.7071
.equ SHIFT, 7
.equ ZP, -3
.equ OUT, 64                    ; results go to words 64.. of mem3 and mem2
.equ MEET, latency(read) + position(vxm0) - position(mem0)   ; the group meets: cycle 5
.equ DONE, MEET + latency(requant)                           ; results at vxm0: cycle 9

.queue mem0.rd
    read 0 -> e0                ; byte 0
    repeat N-1, 1, 1
.queue mem1.rd
    nop position(mem1) - position(mem0)
    read 0 -> e1                ; byte 1, one position nearer, one cycle later
    repeat N-1, 1, 1
.queue mem2.rd
    nop position(mem2) - position(mem0)
    read 0 -> e2
    repeat N-1, 1, 1
.queue mem3.rd
    nop position(mem3) - position(mem0)
    read 0 -> e3
    repeat N-1, 1, 1

.queue vxm0.alu0
    nop MEET
    requant e0:4 -> w0, mul=MUL, shift=SHIFT, zp=ZP
    repeat N-1, 1
.queue vxm0.alu1
    nop MEET
    requant.relu e0:4 -> w1, mul=MUL, shift=SHIFT, zp=ZP
    repeat N-1, 1

.queue mem3.wr
    nop DONE + position(vxm0) - position(mem3)               ; cycle 10
    write w0 -> OUT
    repeat N-1, 1, 1
.queue mem2.wr
    nop DONE + position(vxm0) - position(mem2)               ; cycle 11
    write w1 -> OUT
    repeat N-1, 1, 1

.data mem0, mem1, mem2, mem3 @ 0
    .i32 0, 1, -1, 90, -90, 91, -91, 181, -181, 2147483647, -2147483648, 100000, -100000
    .i32 23170, -23170, 46341, 5000, -5000, 12345, -12345, 77777, -77777, 300, -300
