/* The standard process_* metrics (what Prometheus's client libraries
 * export), read when /metrics is scraped: CPU from getrusage, resident
 * memory from /proc/self/statm, open descriptors from /proc/self/fd (procfs:
 * no disk behind either). */
#ifndef TG_METRICS_PROCESS_H
#define TG_METRICS_PROCESS_H

struct tg_process_stats {
    double cpu_seconds;    /* user + system */
    double resident_bytes; /* -1 when unknown */
    double open_fds;       /* -1 when unknown */
};

void tg_process_stats_read(struct tg_process_stats *out);

#endif
