/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The io.pagemeld1.Manager vtable, its signals and the PropertiesChanged
 * flush. The work is in manager.c / budget.c. */
#include "manager-bus.h"

#include <stdarg.h>
#include <stddef.h>

#include "budget.h"
#include "cgroup-bus.h"
#include "creds-bus.h"
#include "errors.h"
#include "estimate-bus.h"
#include "log.h"
#include "macro.h"
#include "registry.h"
#include "util.h"

int bus_check_root(sd_bus_message *msg, sd_bus_error *error)
{
	uid_t uid;
	int r = bus_sender_uid(msg, &uid, error);
	if (r < 0)
		return r;
	if (uid != 0) {
		log_notice("Refused %s.%s from uid %u (%s): root only",
			   (sd_bus_message_get_interface(msg) ?: ""), (sd_bus_message_get_member(msg) ?: ""),
			   (unsigned)uid, (sd_bus_message_get_sender(msg) ?: ""));
		return sd_bus_error_setf(error, PM_ERROR_ACCESS_DENIED, "Only root may call %s",
					 (sd_bus_message_get_member(msg) ?: ""));
	}
	return 0;
}

/* ---- properties ---- */

static int get_version(sd_bus *bus, const char *path, const char *interface, const char *property,
		       sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
	return sd_bus_message_append(reply, "s", PAGEMELD_VERSION);
}

static int get_kernel_features(sd_bus *bus, const char *path, const char *interface, const char *property,
			       sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
	Manager *m = userdata;
	int r = sd_bus_message_open_container(reply, 'a', "s");
	if (r < 0)
		return r;
	for (int f = 0; f < _KERNEL_FEATURE_MAX; f++)
		if (m->features.state[f] == FEATURE_PRESENT) {
			r = sd_bus_message_append(reply, "s", kernel_feature_name(f));
			if (r < 0)
				return r;
		}
	return sd_bus_message_close_container(reply);
}

static int ksm_fresh(Manager *m, sd_bus_error *error)
{
	int r = manager_ksm_refresh(m, false);
	if (r < 0)
		return sd_bus_error_setf(error, SD_BUS_ERROR_NOT_SUPPORTED, "Cannot read %s: %s", m->ksm_dir,
					 strerror(-r));
	return 0;
}

static uint64_t ksm_value(Manager *m, KsmField f)
{
	return m->ksm.present[f] ? m->ksm.value[f] : 0;
}

static const struct {
	const char *property;
	KsmField field;
} ksm_properties[] = {
	{"PagesShared", KSM_pages_shared},
	{"PagesSharing", KSM_pages_sharing},
	{"PagesUnshared", KSM_pages_unshared},
	{"PagesVolatile", KSM_pages_volatile},
	{"PagesSkipped", KSM_pages_skipped},
	{"FullScans", KSM_full_scans},
	{"KsmZeroPages", KSM_ksm_zero_pages},
	{"PagesToScan", KSM_pages_to_scan},
	{"SleepMillisecs", KSM_sleep_millisecs},
	{"MaxPageSharing", KSM_max_page_sharing},
	{"UseZeroPages", KSM_use_zero_pages},
	{"SmartScan", KSM_smart_scan},
	{"MergeAcrossNodes", KSM_merge_across_nodes},
};

static int property_field(const char *property)
{
	for (size_t i = 0; i < ELEMENTSOF(ksm_properties); i++)
		if (streq(ksm_properties[i].property, property))
			return ksm_properties[i].field;
	return -EINVAL;
}

static int get_ksm_u64(sd_bus *bus, const char *path, const char *interface, const char *property,
		       sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
	Manager *m = userdata;
	int f = property_field(property);
	int r = ksm_fresh(m, error);
	if (r < 0)
		return r;
	return sd_bus_message_append(reply, "t", ksm_value(m, f));
}

static int get_ksm_bool(sd_bus *bus, const char *path, const char *interface, const char *property,
			sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
	Manager *m = userdata;
	int f = property_field(property);
	int r = ksm_fresh(m, error);
	if (r < 0)
		return r;
	return sd_bus_message_append(reply, "b", ksm_value(m, f) != 0);
}

static int get_ksm_run(sd_bus *bus, const char *path, const char *interface, const char *property,
		       sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
	Manager *m = userdata;
	int r = ksm_fresh(m, error);
	if (r < 0)
		return r;
	return sd_bus_message_append(reply, "s", ksm_run_name(m->ksm.value[KSM_run]));
}

static int get_general_profit(sd_bus *bus, const char *path, const char *interface, const char *property,
			      sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
	Manager *m = userdata;
	int r = ksm_fresh(m, error);
	if (r < 0)
		return r;
	return sd_bus_message_append(reply, "x", m->ksm.general_profit_present ? m->ksm.general_profit : 0);
}

static int get_advisor_mode(sd_bus *bus, const char *path, const char *interface, const char *property,
			    sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
	Manager *m = userdata;
	int r = ksm_fresh(m, error);
	if (r < 0)
		return r;
	return sd_bus_message_append(
		reply, "s", m->ksm.advisor_mode_present ? ksm_advisor_name(m->ksm.advisor_mode) : "");
}

static int set_ksm_u64(sd_bus *bus, const char *path, const char *interface, const char *property,
		       sd_bus_message *value, void *userdata, sd_bus_error *error)
{
	Manager *m = userdata;
	uint64_t v;
	int r = bus_check_root(sd_bus_get_current_message(bus), error);
	if (r < 0)
		return r;
	r = sd_bus_message_read(value, "t", &v);
	if (r < 0)
		return r;
	int f = property_field(property);
	if (f == KSM_max_page_sharing && v < 2)
		return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
					 "MaxPageSharing must be at least 2");
	if (f == KSM_sleep_millisecs && v > UINT32_MAX)
		return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "SleepMillisecs is too large");
	return manager_ksm_write(m, f, v, error);
}

static int set_ksm_bool(sd_bus *bus, const char *path, const char *interface, const char *property,
			sd_bus_message *value, void *userdata, sd_bus_error *error)
{
	Manager *m = userdata;
	int b;
	int r = bus_check_root(sd_bus_get_current_message(bus), error);
	if (r < 0)
		return r;
	r = sd_bus_message_read(value, "b", &b);
	if (r < 0)
		return r;
	return manager_ksm_write(m, property_field(property), !!b, error);
}

static int set_advisor_mode(sd_bus *bus, const char *path, const char *interface, const char *property,
			    sd_bus_message *value, void *userdata, sd_bus_error *error)
{
	Manager *m = userdata;
	const char *s;
	int r = bus_check_root(sd_bus_get_current_message(bus), error);
	if (r < 0)
		return r;
	r = sd_bus_message_read(value, "s", &s);
	if (r < 0)
		return r;
	int a = ksm_advisor_from_name(s);
	if (a < 0)
		return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
					 "AdvisorMode must be none or scan-time");
	if (budget_ksm_busy(m)) /* the write would wait for ksm_thread_mutex */
		return budget_busy_error(m, error);
	r = ksm_write_advisor(m->ksm_dir, a);
	if (r < 0)
		return sd_bus_error_setf(error, PM_ERROR_KERNEL_REFUSED,
					 "The kernel refused advisor_mode=%s: %s", s, strerror(-r));
	log_info("KSM advisor_mode=%s (D-Bus)", s);
	m->ksm_valid = false;
	return 0;
}

static int get_trust_domain(sd_bus *bus, const char *path, const char *interface, const char *property,
			    sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
	Manager *m = userdata;
	/* The merging domain is a tenant's namespace: per-cgroup data, empty
	 * for callers outside the reader group. */
	int r = bus_current_caller_is_reader(bus, m, error);
	if (r < 0)
		return r;
	return sd_bus_message_append(reply, "s", r > 0 && m->trust_domain ? m->trust_domain : "");
}

static int get_sweep_interval(sd_bus *bus, const char *path, const char *interface, const char *property,
			      sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
	Manager *m = userdata;
	return sd_bus_message_append(reply, "t", m->config.sweep_interval_usec);
}

/* ---- methods ---- */

/* The registration is acknowledged as soon as it is saved; userdata holds
 * a reference on the method call. */
static void on_registered(void *userdata, const char *object_path, const sd_bus_error *error)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = userdata;
	int r = object_path ? sd_bus_reply_method_return(msg, "o", object_path)
			    : sd_bus_reply_method_error(msg, error);
	if (r < 0)
		log_debug_errno(r, "Cannot reply to RegisterContainer: %m");
}

/* Sweep and EnableCgroup answer once the enables they queued are done. */
static void on_injections_done(int result, void *userdata)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = userdata;
	int r = sd_bus_reply_method_return(msg, NULL);
	if (r < 0)
		log_debug_errno(r, "Cannot send a deferred reply: %m");
}

static int reply_after_injections(Manager *m, sd_bus_message *msg)
{
	int r = manager_after_injections(m, on_injections_done, sd_bus_message_ref(msg));
	if (r < 0) {
		sd_bus_message_unref(msg);
		return sd_bus_reply_method_return(msg, NULL);
	}
	return 1;
}

/* A deferred reply: userdata holds a reference on the method call. */
static void on_job_done(void *userdata, int error, const char *what, const char *message)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = userdata;
	int r;
	if (error == 0)
		r = sd_bus_reply_method_return(msg, NULL);
	else if (error == -EBUSY)
		r = sd_bus_reply_method_errorf(msg, PM_ERROR_BUSY, "%s: %s", what, message);
	else if (error == -EOPNOTSUPP)
		r = sd_bus_reply_method_errorf(msg, SD_BUS_ERROR_NOT_SUPPORTED, "%s: %s", what, message);
	else
		r = sd_bus_reply_method_errorf(msg, PM_ERROR_KERNEL_REFUSED, "%s failed (%s): %s", what,
					       errno_name(error), message);
	if (r < 0)
		log_debug_errno(r, "Cannot send the reply of %s: %m", what);
}

static int method_register_container(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	Manager *m = userdata;
	const char *id;
	int fd;
	_cleanup_strv_free_ char **kv = NULL;
	size_t n = 0, alloc = 0;
	int r;

	r = bus_check_root(msg, error);
	if (r < 0)
		return r;
	r = sd_bus_message_read(msg, "sh", &id, &fd);
	if (r < 0)
		return r;
	r = sd_bus_message_enter_container(msg, 'a', "{ss}");
	if (r < 0)
		return r;
	for (;;) {
		const char *k, *v;
		r = sd_bus_message_read(msg, "{ss}", &k, &v);
		if (r < 0)
			return r;
		if (r == 0)
			break;
		if (n >= 1024)
			return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Too many annotations");
		if (2 * n + 3 > alloc) {
			size_t na = alloc ? alloc * 2 : 16;
			char **nl = realloc(kv, na * sizeof(char *));
			if (!nl)
				return -ENOMEM;
			kv = nl;
			alloc = na;
		}
		kv[2 * n] = strdup(k);
		kv[2 * n + 1] = NULL;
		if (!kv[2 * n])
			return -ENOMEM;
		kv[2 * n + 1] = strdup(v);
		kv[2 * n + 2] = NULL;
		if (!kv[2 * n + 1])
			return -ENOMEM;
		n++;
	}
	r = sd_bus_message_exit_container(msg);
	if (r < 0)
		return r;

	r = manager_register_container(m, id, fd, kv ?: (char *[]){NULL}, n, on_registered,
				       sd_bus_message_ref(msg), error);
	if (r < 0)
		sd_bus_message_unref(msg); /* not called: ours to drop */
	return r < 0 ? r : 1;
}

static int method_unregister_container(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	Manager *m = userdata;
	const char *id;
	int r = bus_check_root(msg, error);
	if (r < 0)
		return r;
	r = sd_bus_message_read(msg, "s", &id);
	if (r < 0)
		return r;
	r = manager_unregister_container(m, id, error);
	if (r < 0)
		return r;
	return sd_bus_reply_method_return(msg, NULL);
}

/* Per-cgroup data: root and ReaderGroup= only (AccessDenied, not an empty
 * list, which would read as "nothing managed"); ManagedCgroups stays open. */
static int method_list_cgroups(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	Manager *m = userdata;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	uid_t uid;
	int r = bus_check_reader(m, msg, &uid, error);
	if (r < 0)
		return r;
	r = sd_bus_message_new_method_return(msg, &reply);
	if (r < 0)
		return r;
	r = sd_bus_message_open_container(reply, 'a', "(ostttxttssss)");
	if (r < 0)
		return r;
	for (CgroupState *cg = m->cgroups; cg; cg = cg->next) {
		const PodIdentity *id = registry_cgroup_identity(cg);
		r = sd_bus_message_append(
			reply, "(ostttxttssss)", cg->object_path, cg->path, cg->merging_pages, cg->rmap_items,
			cg->zero_pages, cg->profit, cg->merge_debt, cg->merge_budget,
			cgroup_status_name(cg->status), id && id->pod_namespace ? id->pod_namespace : "",
			id && id->pod_name ? id->pod_name : "", id && id->pod_uid ? id->pod_uid : "");
		if (r < 0)
			return r;
	}
	r = sd_bus_message_close_container(reply);
	if (r < 0)
		return r;
	return sd_bus_send(NULL, reply, NULL);
}

static int lookup_cgroup(Manager *m, const char *s, CgroupState **ret, sd_bus_error *error)
{
	CgroupState *cg = manager_find_cgroup(m, s);
	if (!cg)
		return sd_bus_error_setf(error, PM_ERROR_NO_SUCH_CGROUP, "No managed cgroup %s", s);
	*ret = cg;
	return 0;
}

static int method_set_budget(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	Manager *m = userdata;
	const char *s;
	uint64_t mb, sb;
	CgroupState *cg = NULL;
	int r = bus_check_root(msg, error);
	if (r < 0)
		return r;
	r = sd_bus_message_read(msg, "stt", &s, &mb, &sb);
	if (r < 0)
		return r;
	r = lookup_cgroup(m, s, &cg, error);
	if (r < 0)
		return r;
	r = manager_set_budget(m, cg, mb, sb, error);
	if (r < 0)
		return r;
	return sd_bus_reply_method_return(msg, NULL);
}

static int method_enable_disable(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	Manager *m = userdata;
	const char *s;
	CgroupState *cg = NULL;
	int r = bus_check_root(msg, error);
	if (r < 0)
		return r;
	r = sd_bus_message_read(msg, "s", &s);
	if (r < 0)
		return r;
	r = lookup_cgroup(m, s, &cg, error);
	if (r < 0)
		return r;
	if (streq(sd_bus_message_get_member(msg), "EnableCgroup"))
		r = manager_enable_cgroup(m, cg, error);
	else {
		r = manager_disable_cgroup(m, cg, on_job_done, sd_bus_message_ref(msg), error);
		if (r <= 0)
			sd_bus_message_unref(msg); /* on_job_done was not taken */
	}
	if (r < 0)
		return r;
	if (r > 0)
		return 1; /* on_job_done replies when the worker is done */
	if (streq(sd_bus_message_get_member(msg), "EnableCgroup"))
		return reply_after_injections(m, msg);
	return sd_bus_reply_method_return(msg, NULL);
}

static int method_unmerge_all(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	Manager *m = userdata;
	int force;
	int r = bus_check_root(msg, error);
	if (r < 0)
		return r;
	r = sd_bus_message_read(msg, "b", &force);
	if (r < 0)
		return r;
	r = budget_unmerge_all(m, force, error);
	if (r < 0)
		return r;
	return sd_bus_reply_method_return(msg, NULL);
}

/* SetMergeAcrossNodes(b) and SetMergeAcrossNodesWithFlags(b, t): the
 * first is the second without flags (refused when the unmerge does not fit). */
static int method_set_merge_across_nodes(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	Manager *m = userdata;
	int on;
	uint64_t flags = 0;
	int r = bus_check_root(msg, error);
	if (r < 0)
		return r;
	r = sd_bus_message_read(msg, "b", &on);
	if (r < 0)
		return r;
	if (streq(sd_bus_message_get_member(msg), "SetMergeAcrossNodesWithFlags")) {
		r = sd_bus_message_read(msg, "t", &flags);
		if (r < 0)
			return r;
		if (flags & ~PAGEMELD_MERGE_ACROSS_NODES_FLAGS_ALL)
			return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
						 "Unknown flags 0x%" PRIx64 " (known: 0x%" PRIx64 ", force)",
						 flags & ~PAGEMELD_MERGE_ACROSS_NODES_FLAGS_ALL,
						 PAGEMELD_MERGE_ACROSS_NODES_FLAGS_ALL);
	}
	r = budget_set_merge_across_nodes(m, on, flags & PAGEMELD_MERGE_ACROSS_NODES_FORCE, on_job_done,
					  sd_bus_message_ref(msg), error);
	if (r <= 0)
		sd_bus_message_unref(msg); /* on_job_done was not taken */
	if (r < 0)
		return r;
	if (r > 0)
		return 1; /* on_job_done replies when the worker is done */
	if (streq(sd_bus_message_get_member(msg), "EnableCgroup"))
		return reply_after_injections(m, msg);
	return sd_bus_reply_method_return(msg, NULL);
}

static int method_sweep(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	Manager *m = userdata;
	int r = bus_check_root(msg, error);
	if (r < 0)
		return r;
	(void)manager_sweep_all(m);
	return reply_after_injections(m, msg);
}

#define RO_KSM(name, sig, getter) SD_BUS_PROPERTY(name, sig, getter, 0, 0)
#define RW_KSM(name, sig, getter, setter) \
	SD_BUS_WRITABLE_PROPERTY(name, sig, getter, setter, 0, SD_BUS_VTABLE_UNPRIVILEGED)

static const sd_bus_vtable manager_vtable[] = {
	SD_BUS_VTABLE_START (0),
	SD_BUS_PROPERTY("Version", "s", get_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_PROPERTY("KernelFeatures", "as", get_kernel_features, 0, SD_BUS_VTABLE_PROPERTY_CONST),
	/* announced while an unmerge runs (budget.c) */
	SD_BUS_PROPERTY("KsmRun", "s", get_ksm_run, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("PagesShared", "t", get_ksm_u64, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("PagesSharing", "t", get_ksm_u64, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	RO_KSM("PagesUnshared", "t", get_ksm_u64),
	RO_KSM("PagesVolatile", "t", get_ksm_u64),
	RO_KSM("PagesSkipped", "t", get_ksm_u64),
	RO_KSM("FullScans", "t", get_ksm_u64),
	RO_KSM("KsmZeroPages", "t", get_ksm_u64),
	RO_KSM("GeneralProfit", "x", get_general_profit),
	SD_BUS_PROPERTY("MergeAcrossNodes", "b", get_ksm_bool, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("ManagedCgroups", "u", NULL, offsetof(Manager, n_cgroups),
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("ManagedContainers", "u", NULL, offsetof(Manager, n_containers), 0),
	SD_BUS_PROPERTY("TrustDomain", "s", get_trust_domain, 0, SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
	SD_BUS_PROPERTY("SweepIntervalUSec", "t", get_sweep_interval, 0, 0),
	SD_BUS_PROPERTY("Sweeps", "t", NULL, offsetof(Manager, sweeps), 0),
	SD_BUS_PROPERTY("LastSweepCPUUSec", "t", NULL, offsetof(Manager, last_sweep_cpu_usec), 0),
	RW_KSM("PagesToScan", "t", get_ksm_u64, set_ksm_u64),
	RW_KSM("SleepMillisecs", "t", get_ksm_u64, set_ksm_u64),
	RW_KSM("AdvisorMode", "s", get_advisor_mode, set_advisor_mode),
	RW_KSM("MaxPageSharing", "t", get_ksm_u64, set_ksm_u64),
	RW_KSM("UseZeroPages", "b", get_ksm_bool, set_ksm_bool),
	RW_KSM("SmartScan", "b", get_ksm_bool, set_ksm_bool),

	SD_BUS_METHOD_WITH_NAMES("RegisterContainer", "sha{ss}",
				 SD_BUS_PARAM(id) SD_BUS_PARAM(pidfd) SD_BUS_PARAM(annotations), "o",
				 SD_BUS_PARAM(cgroup), method_register_container, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_NAMES("UnregisterContainer", "s", SD_BUS_PARAM(id), "", ,
				 method_unregister_container, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_NAMES("ListCgroups", "", , "a(ostttxttssss)", SD_BUS_PARAM(cgroups),
				 method_list_cgroups, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_NAMES("SetBudget", "stt",
				 SD_BUS_PARAM(cgroup) SD_BUS_PARAM(merge_budget) SD_BUS_PARAM(swap_budget),
				 "", , method_set_budget, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_NAMES("EnableCgroup", "s", SD_BUS_PARAM(cgroup), "", , method_enable_disable,
				 SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_NAMES("DisableCgroup", "s", SD_BUS_PARAM(cgroup), "", , method_enable_disable,
				 SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_NAMES("UnmergeAll", "b", SD_BUS_PARAM(force), "", , method_unmerge_all,
				 SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_NAMES("SetMergeAcrossNodes", "b", SD_BUS_PARAM(enable), "", ,
				 method_set_merge_across_nodes, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_NAMES("SetMergeAcrossNodesWithFlags", "bt",
				 SD_BUS_PARAM(enable) SD_BUS_PARAM(flags), "", ,
				 method_set_merge_across_nodes, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD("Sweep", "", "", method_sweep, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_NAMES("Estimate", "as", SD_BUS_PARAM(cgroups), "t", SD_BUS_PARAM(job),
				 bus_method_estimate, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_NAMES("CancelEstimate", "t", SD_BUS_PARAM(job), "", , bus_method_cancel_estimate,
				 SD_BUS_VTABLE_UNPRIVILEGED),

	SD_BUS_SIGNAL_WITH_NAMES("CgroupAdded", "o", SD_BUS_PARAM(cgroup), 0),
	SD_BUS_SIGNAL_WITH_NAMES("CgroupRemoved", "o", SD_BUS_PARAM(cgroup), 0),
	SD_BUS_SIGNAL_WITH_NAMES("BudgetExceeded", "ott",
				 SD_BUS_PARAM(cgroup) SD_BUS_PARAM(debt) SD_BUS_PARAM(budget), 0),
	SD_BUS_SIGNAL_WITH_NAMES("UnmergeFinished", "bs", SD_BUS_PARAM(ok) SD_BUS_PARAM(error), 0),
	/* sent to the caller of Estimate alone */
	SD_BUS_SIGNAL_WITH_NAMES("EstimateProgress", "tt", SD_BUS_PARAM(job) SD_BUS_PARAM(bytes_read), 0),
	SD_BUS_SIGNAL_WITH_NAMES(
		"EstimateFinished", "tsa{sx}a(sa{sx})",
		SD_BUS_PARAM(job) SD_BUS_PARAM(error) SD_BUS_PARAM(totals) SD_BUS_PARAM(cgroups), 0),
	SD_BUS_VTABLE_END,
};

/* ---- output ---- */

static const struct {
	ManagerDirty bit;
	const char *names[4];
} dirty_properties[] = {
	{MANAGER_DIRTY_KSM, {"KsmRun", "PagesShared", "PagesSharing"}},
	{MANAGER_DIRTY_MERGE_ACROSS_NODES, {"MergeAcrossNodes"}},
	{MANAGER_DIRTY_CGROUPS, {"ManagedCgroups"}},
	{MANAGER_DIRTY_TRUST_DOMAIN, {"TrustDomain"}},
};

/* Once per event-loop iteration in which something was marked dirty. */
static int on_bus_flush(sd_event_source *s, void *userdata)
{
	Manager *m = userdata;
	if (m->dirty) {
		const char *names[16];
		size_t n = 0;
		for (size_t i = 0; i < ELEMENTSOF(dirty_properties); i++)
			if (m->dirty & dirty_properties[i].bit)
				for (const char *const *p = dirty_properties[i].names; *p; p++)
					names[n++] = *p;
		names[n] = NULL;
		m->dirty = 0;
		int r = sd_bus_emit_properties_changed_strv(m->bus, PAGEMELD_MANAGER_PATH,
							    PAGEMELD_MANAGER_INTERFACE, (char **)names);
		if (r < 0)
			log_debug_errno(r, "Cannot emit PropertiesChanged: %m");
	}
	cgroup_bus_flush(m);
	return 0;
}

static void emit_signal(Manager *m, const char *member, const char *types, ...)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *sig = NULL;
	va_list ap;
	if (!m->bus)
		return;
	int r = sd_bus_message_new_signal(m->bus, &sig, PAGEMELD_MANAGER_PATH, PAGEMELD_MANAGER_INTERFACE,
					  member);
	if (r >= 0) {
		va_start(ap, types);
		r = sd_bus_message_appendv(sig, types, ap);
		va_end(ap);
	}
	if (r >= 0)
		r = sd_bus_send(m->bus, sig, NULL);
	if (r < 0)
		log_debug_errno(r, "Cannot emit %s: %m", member);
}

void bus_emit_cgroup_added(Manager *m, CgroupState *cg)
{
	emit_signal(m, "CgroupAdded", "o", cg->object_path);
}

void bus_emit_cgroup_removed(Manager *m, CgroupState *cg)
{
	emit_signal(m, "CgroupRemoved", "o", cg->object_path);
}

void bus_emit_budget_exceeded(Manager *m, CgroupState *cg, uint64_t debt, uint64_t limit)
{
	emit_signal(m, "BudgetExceeded", "ott", cg->object_path, debt, limit);
}

void bus_emit_unmerge_finished(Manager *m, bool ok, const char *error)
{
	emit_signal(m, "UnmergeFinished", "bs", (int)ok, error ?: "");
}

int manager_bus_add(Manager *m)
{
	int r = sd_bus_add_object_vtable(m->bus, NULL, PAGEMELD_MANAGER_PATH, PAGEMELD_MANAGER_INTERFACE,
					 manager_vtable, m);
	if (r < 0)
		return log_error_errno(r, "Cannot add the Manager vtable: %m");
	if (m->event && !m->bus_flush) {
		r = sd_event_add_defer(m->event, &m->bus_flush, on_bus_flush, m);
		if (r < 0)
			return log_error_errno(r, "Cannot add the PropertiesChanged flush: %m");
		/* enabled (one shot) by whoever marks something dirty */
		(void)sd_event_source_set_enabled(m->bus_flush, m->dirty ? SD_EVENT_ONESHOT : SD_EVENT_OFF);
	}
	return 0;
}
