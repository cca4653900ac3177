/* The one C file of logwarden: a narrow door to ISA-L's inflate (libisal, BSD-3), compiled
 * only when its header is found (build.rs). The inflate state's layout stays on this side, so
 * the Rust code never mirrors a C struct. One call inflates as much of `in` into `out` as fits;
 * when the deflate body ends, the bytes ISA-L had read past it (into its 64-bit bit buffer)
 * are given back: as fewer bytes used from `in`, or, for those that came from an earlier
 * call's input, copied to `leftover`. */
#include <isa-l/igzip_lib.h>
#include <stdint.h>
#include <stdlib.h>

struct inflate_state *lw_isal_new(void)
{
	struct inflate_state *s = malloc(sizeof(struct inflate_state));
	if (s != NULL) {
		isal_inflate_init(s);
		s->crc_flag = ISAL_GZIP_NO_HDR; /* raw deflate; CRC-32 of the output in s->crc */
	}
	return s;
}

void lw_isal_free(struct inflate_state *s)
{
	free(s);
}

/* Returns ISA-L's status (negative: corrupt data). `*finished` is 1 once the final block has
 * been decoded and written out whole. */
int lw_isal_inflate(struct inflate_state *s, const uint8_t *in, uint32_t in_len, uint8_t *out,
		    uint32_t out_len, uint32_t *used, uint32_t *produced, int *finished,
		    uint32_t *crc, uint8_t leftover[8], uint32_t *leftover_len)
{
	s->next_in = (uint8_t *)in;
	s->avail_in = in_len;
	s->next_out = out;
	s->avail_out = out_len;
	int ret = isal_inflate(s);
	*used = (uint32_t)(s->next_in - in);
	*produced = (uint32_t)(s->next_out - out);
	*finished = s->block_state == ISAL_BLOCK_FINISH;
	*crc = s->crc;
	*leftover_len = 0;
	if (ret >= 0 && *finished && s->read_in_length > 0) {
		/* Whole bytes still in the bit buffer, oldest first (the low bits are the rest of
		 * the body's last byte). The newest came from `in`: hand them back there. */
		uint32_t whole = (uint32_t)s->read_in_length / 8;
		uint64_t bits = s->read_in >> (s->read_in_length % 8);
		uint32_t back = whole < *used ? whole : *used;
		uint32_t older = whole - back;
		for (uint32_t k = 0; k < older && k < 8; k++)
			leftover[k] = (uint8_t)(bits >> (8 * k));
		*leftover_len = older < 8 ? older : 8;
		*used -= back;
		s->read_in = 0;
		s->read_in_length = 0;
	}
	return ret;
}
