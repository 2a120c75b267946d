/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "unit-util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl-format.h"
#include "macro.h"

#define PAGE 4096

static char *strv_new2(const char *a, const char *b)
{
	/* returns a malloc'd NULL-terminated char ** as char * for brevity */
	char **l = calloc(3, sizeof(char *));
	l[0] = strdup(a);
	l[1] = b ? strdup(b) : NULL;
	return (char *)l;
}

static void fill(CtlManager *m, CtlCgroup c[2])
{
	*m = (CtlManager){
		.version = strdup("0.1.0"),
		.kernel_features = (char **)strv_new2("ksm", "prctl_merge_any"),
		.ksm_run = strdup("running"),
		.pages_shared = 10,
		.pages_sharing = 1000,
		.pages_unshared = 5,
		.full_scans = 7,
		.general_profit = -5,
		.managed_cgroups = 2,
		.managed_containers = 3,
		.trust_domain = strdup(""),
		.pages_to_scan = 100,
		.sleep_millisecs = 20,
		.sweeps = 9,
		.sweep_interval_usec = 2500000,
	};
	c[0] = (CtlCgroup){
		.object = strdup("/io/pagemeld1/cgroup/a"),
		.path = strdup("/kubepods/pod1/ctr-a"),
		.containers = (char **)strv_new2("0123456789abcdef0123", "fedcba"),
		.container_names = (char **)strv_new2("nginx", "sidecar"),
		.pod_namespace = strdup("shop"),
		.pod_name = strdup("web-0"),
		.pod_uid = strdup("0e6a5a4c-1f0e"),
		.processes = 3,
		.merging_pages = 256,
		.profit = 1048576 - 640,
		.merge_debt = 1048576,
		.estimated_savings = 8192,
		.merge_budget = 512ULL << 20,
		.swap_budget = CTL_UNLIMITED,
		.state = strdup("over-budget"),
	};
	c[1] = (CtlCgroup){
		.path = strdup("/odd\"path\\with\nnewline"),
		.merge_budget = CTL_UNLIMITED,
		.swap_budget = 0,
		.state = strdup("disabled"),
	};
}

static void test_status_text(void **state)
{
	CtlManager m;
	CtlCgroup c[2];
	FILE *f;
	size_t size;
	char *buf = NULL;

	fill(&m, c);
	f = open_memstream(&buf, &size);
	assert_non_null(f);
	ctl_print_status(f, &m, PAGE);
	fclose(f);
	assert_non_null(strstr(buf, "Daemon:        pagemeldd 0.1.0\n"));
	assert_non_null(strstr(buf, "KSM:           running, 7 full scans\n"));
	/* 1000 pages * 4 KiB saved */
	assert_non_null(strstr(buf, "Saved:         3.9 MiB (1000 pages sharing 10 shared pages)\n"));
	assert_non_null(strstr(buf, "Profit:        -5 B"));
	assert_non_null(strstr(buf, "Trust domain:  (none)\n"));
	assert_non_null(strstr(buf, "Managed:       2 cgroups, 3 containers, 9 sweeps (every 2.5s)\n"));
	assert_non_null(
		strstr(buf, "Scan:          100 pages every 20 ms, advisor none, merge across nodes off\n"));
	free(buf);
	ctl_manager_done(&m);
	ctl_cgroup_done(&c[0]);
	ctl_cgroup_done(&c[1]);
}

static void test_list_text(void **state)
{
	CtlManager m;
	CtlCgroup c[2];
	FILE *f;
	size_t size;
	char *buf = NULL;
	char name[128];

	fill(&m, c);
	f = open_memstream(&buf, &size);
	ctl_print_list(f, c, 2, PAGE, 0, false);
	fclose(f);
	char *line2 = strchr(buf, '\n') + 1;
	assert_true(strncmp(buf, "STATE ", 6) == 0);
	assert_null(strstr(buf, "CGROUP"));
	/* namespace/pod/container and the count of the others, last; no path */
	assert_non_null(strstr(line2, "over-budget"));
	assert_non_null(strstr(line2, "1.0 MiB/512.0 MiB"));
	assert_non_null(strstr(line2, " shop/web-0/nginx+1\n"));
	assert_null(strstr(buf, "/kubepods/pod1/ctr-a"));
	assert_non_null(strstr(buf, "0 B/none"));
	/* over-budget is explained once; nothing is unsupported here */
	assert_non_null(strstr(buf, "\nover-budget: merge debt passed"));
	assert_null(strstr(buf, "\nunsupported:"));
	free(buf);

	buf = NULL;
	f = open_memstream(&buf, &size);
	ctl_print_list(f, NULL, 0, PAGE, 0, false);
	fclose(f);
	assert_non_null(strstr(buf, "(no managed cgroups)"));
	free(buf);

	/* --wide: the path after the name */
	buf = NULL;
	f = open_memstream(&buf, &size);
	ctl_print_list(f, c, 2, PAGE, 0, true);
	fclose(f);
	assert_non_null(strstr(buf, " NAME             CGROUP\n"));
	assert_non_null(strstr(buf, " shop/web-0/nginx+1 /kubepods/pod1/ctr-a\n"));
	free(buf);
	/* 63 fixed columns, the 18-column name and a space leave 16 of a
	 * 98-column terminal for the path: "..." and its end */
	buf = NULL;
	f = open_memstream(&buf, &size);
	ctl_print_list(f, c, 1, PAGE, 98, true);
	fclose(f);
	line2 = strchr(buf, '\n') + 1;
	assert_int_equal(strcspn(line2, "\n"), 98);
	assert_non_null(strstr(line2, " ...ds/pod1/ctr-a\n"));
	free(buf);
	/* 102 columns: it fits exactly */
	buf = NULL;
	f = open_memstream(&buf, &size);
	ctl_print_list(f, c, 1, PAGE, 102, true);
	fclose(f);
	assert_int_equal(strcspn(strchr(buf, '\n') + 1, "\n"), 102);
	assert_non_null(strstr(buf, " /kubepods/pod1/ctr-a\n"));
	free(buf);
	/* too narrow to help: the whole path */
	buf = NULL;
	f = open_memstream(&buf, &size);
	ctl_print_list(f, c, 1, PAGE, 60, true);
	fclose(f);
	assert_non_null(strstr(buf, " /kubepods/pod1/ctr-a\n"));
	free(buf);

	/* the names without a pod: container name, else the short id */
	assert_string_equal(ctl_cgroup_name(name, sizeof(name), &c[1]), "-");
	free(c[0].pod_name);
	c[0].pod_name = NULL;
	assert_string_equal(ctl_cgroup_name(name, sizeof(name), &c[0]), "nginx+1");
	free(c[0].container_names[0]);
	c[0].container_names[0] = strdup("");
	assert_string_equal(ctl_cgroup_name(name, sizeof(name), &c[0]), "0123456789ab+1");
	c[0].pod_name = strdup("web-0");
	assert_string_equal(ctl_cgroup_name(name, sizeof(name), &c[0]), "shop/web-0+1");
	ctl_manager_done(&m);
	ctl_cgroup_done(&c[0]);
	ctl_cgroup_done(&c[1]);
}

static void test_json(void **state)
{
	CtlManager m;
	CtlCgroup c[2];
	fill(&m, c);

	json_object *o = ctl_manager_to_json(&m, PAGE), *v;
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "saved_bytes", &v));
	assert_int_equal(json_object_get_uint64(v), 1000 * PAGE);
	assert_true(json_object_object_get_ex(o, "general_profit_bytes", &v));
	assert_int_equal(json_object_get_int64(v), -5);
	assert_true(json_object_object_get_ex(o, "kernel_features", &v));
	assert_int_equal(json_object_array_length(v), 2);
	json_object_put(o);

	o = ctl_cgroups_to_json(c, 2, PAGE);
	assert_int_equal(json_object_array_length(o), 2);
	json_object *first = json_object_array_get_idx(o, 0), *second = json_object_array_get_idx(o, 1);
	assert_true(json_object_object_get_ex(first, "merged_bytes", &v));
	assert_int_equal(json_object_get_uint64(v), 256 * PAGE);
	assert_true(json_object_object_get_ex(first, "merge_budget_bytes", &v));
	assert_int_equal(json_object_get_uint64(v), 512ULL << 20);
	/* unlimited budgets are null, not 18446744073709551615 */
	assert_true(json_object_object_get_ex(first, "swap_budget_bytes", &v));
	assert_null(v);
	assert_true(json_object_object_get_ex(second, "containers", &v));
	assert_int_equal(json_object_array_length(v), 0);
	/* round trip through the text keeps the escaped path */
	json_object *back = json_tokener_parse(json_object_to_json_string(o));
	assert_non_null(back);
	assert_true(json_object_object_get_ex(json_object_array_get_idx(back, 1), "path", &v));
	assert_string_equal(json_object_get_string(v), "/odd\"path\\with\nnewline");
	json_object_put(back);
	json_object_put(o);
	ctl_manager_done(&m);
	ctl_cgroup_done(&c[0]);
	ctl_cgroup_done(&c[1]);
}

/* An EstimateFinished's figures by name, ranked, printed and in JSON; a
 * result without the cross-cgroup figures (a non-root caller) says so. */
static void test_estimate(void **state)
{
	CtlEstimate e = {0};
	e.groups = calloc(2, sizeof(CtlEstimateGroup));
	assert_non_null(e.groups);
	e.n_groups = 2;
	e.groups[0].path = strdup("/small");
	e.groups[1].path = strdup("/big");
	ctl_estimate_set(&e, NULL, "page_size", 4096);
	ctl_estimate_set(&e, NULL, "pages_scanned", 3000);
	ctl_estimate_set(&e, NULL, "dup_within_pages", 1500);
	ctl_estimate_set(&e, NULL, "no_such_figure", 7);
	ctl_estimate_set(&e, &e.groups[0], "within_profit_bytes", 100);
	ctl_estimate_set(&e, &e.groups[1], "within_profit_bytes", 5000);
	ctl_estimate_set(&e, &e.groups[1], "managed", 1);
	assert_false(e.has_cross);
	ctl_estimate_sort(&e);
	assert_string_equal(e.groups[0].path, "/big");
	assert_true(e.groups[0].managed);

	char *buf = NULL;
	size_t size;
	FILE *f = open_memstream(&buf, &size);
	ctl_print_estimate(f, &e);
	fclose(f);
	assert_non_null(strstr(buf, "CGROUP"));
	assert_non_null(strstr(buf, "shown to root only"));
	free(buf);
	json_object *o = ctl_estimate_to_json(&e);
	assert_non_null(o);
	assert_null(json_object_object_get(o, "dup_pages"));
	json_object_put(o);

	/* root's result: ranked by marginal saving, not by the saving alone */
	ctl_estimate_set(&e, NULL, "dup_pages", 2000);
	ctl_estimate_set(&e, &e.groups[0], "marginal_profit_bytes", 10);
	ctl_estimate_set(&e, &e.groups[1], "marginal_profit_bytes", 900);
	ctl_estimate_sort(&e);
	assert_string_equal(e.groups[0].path, "/small");
	o = ctl_estimate_to_json(&e);
	assert_int_equal(json_object_get_int64(json_object_object_get(o, "dup_pages")), 2000);
	json_object *g = json_object_array_get_idx(json_object_object_get(o, "cgroups"), 0);
	assert_int_equal(json_object_get_int64(json_object_object_get(g, "marginal_profit_bytes")), 900);
	json_object_put(o);
	ctl_estimate_done(&e);
}

static void test_metrics(void **state)
{
	CtlManager m;
	CtlCgroup c[2];
	FILE *f;
	size_t size;
	char *buf = NULL;

	fill(&m, c);
	/* the container label names a cgroup's only container: a second one
	 * (see below) leaves it "" */
	free(c[0].containers[1]);
	c[0].containers[1] = NULL;
	f = open_memstream(&buf, &size);
	ctl_print_metrics(f, &m, c, 2, PAGE);
	fclose(f);
	assert_non_null(strstr(buf,
			       "pagemeld_cgroup_processes{cgroup=\"/kubepods/pod1/ctr-a\",namespace=\"shop\","
			       "pod=\"web-0\",container=\"nginx\"} 3\n"));
	free(buf);
	buf = NULL;
	c[0].containers[1] = strdup("fedcba");
	f = open_memstream(&buf, &size);
	ctl_print_metrics(f, &m, c, 2, PAGE);
	fclose(f);
	assert_non_null(strstr(buf,
			       "pagemeld_cgroup_processes{cgroup=\"/kubepods/pod1/ctr-a\",namespace=\"shop\","
			       "pod=\"web-0\",container=\"\"} 3\n"));
	free(buf);
	buf = NULL;
	free(c[0].containers[1]);
	c[0].containers[1] = NULL;
	f = open_memstream(&buf, &size);
	ctl_print_metrics(f, &m, c, 2, PAGE);
	fclose(f);

	/* the exposition ends with the EOF marker and a newline, nothing after */
	assert_true(size > 6);
	assert_string_equal(buf + size - 6, "# EOF\n");
	assert_null(strstr(buf, "# EOF\n#"));
	assert_non_null(strstr(buf, "# TYPE pagemeld_ksm_pages_sharing gauge\n"));
	assert_non_null(strstr(buf, "pagemeld_ksm_pages_sharing 1000\n"));
	/* a counter family's sample carries _total */
	assert_non_null(strstr(buf, "# TYPE pagemeld_ksm_full_scans counter\n"));
	assert_non_null(strstr(buf, "pagemeld_ksm_full_scans_total 7\n"));
	assert_non_null(strstr(buf, "pagemeld_sweeps_total 9\n"));
	assert_non_null(strstr(buf, "pagemeld_managed_containers 3\n"));
	/* units where apt, and the family name ends in the unit */
	assert_non_null(strstr(buf, "# UNIT pagemeld_cgroup_merge_debt_bytes bytes\n"));
	assert_non_null(strstr(buf, "pagemeld_ksm_general_profit_bytes -5\n"));
	assert_non_null(strstr(buf,
			       "pagemeld_cgroup_merge_debt_bytes{cgroup=\"/kubepods/pod1/"
			       "ctr-a\",namespace=\"shop\",pod=\"web-0\",container=\"nginx\"} 1048576\n"));
	assert_non_null(strstr(buf,
			       "pagemeld_cgroup_merge_budget_bytes{cgroup=\"/kubepods/pod1/"
			       "ctr-a\",namespace=\"shop\",pod=\"web-0\",container=\"nginx\"} 536870912\n"));
	assert_non_null(strstr(buf, "pagemeld_cgroup_swap_budget_bytes{cgroup=\"/kubepods/pod1/"
				    "ctr-a\",namespace=\"shop\",pod=\"web-0\",container=\"nginx\"} +Inf\n"));
	/* label values escaped: quote, backslash, newline */
	assert_non_null(
		strstr(buf, "pagemeld_cgroup_processes{cgroup=\"/"
			    "odd\\\"path\\\\with\\nnewline\",namespace=\"\",pod=\"\",container=\"\"} 0\n"));
	/* one state set per cgroup, exactly one state at 1 */
	assert_non_null(strstr(
		buf,
		"pagemeld_cgroup_state{cgroup=\"/kubepods/pod1/"
		"ctr-a\",namespace=\"shop\",pod=\"web-0\",container=\"nginx\",state=\"over-budget\"} 1\n"));
	assert_non_null(strstr(
		buf, "pagemeld_cgroup_state{cgroup=\"/kubepods/pod1/"
		     "ctr-a\",namespace=\"shop\",pod=\"web-0\",container=\"nginx\",state=\"merging\"} 0\n"));
	assert_non_null(strstr(buf, "pagemeld_ksm_run{state=\"running\"} 1\n"));
	/* every family declared once, and each with its HELP */
	size_t types = 0, helps = 0;
	for (const char *p = buf; (p = strstr(p, "# TYPE ")); p++)
		types++;
	for (const char *p = buf; (p = strstr(p, "# HELP ")); p++)
		helps++;
	assert_int_equal(types, helps);
	assert_int_equal(types, 27);
	assert_non_null(strstr(buf, "pagemeld_cgroup_estimated_savings_bytes{cgroup=\"/kubepods/pod1/"
				    "ctr-a\",namespace=\"shop\",pod=\"web-0\",container=\"nginx\"} 8192\n"));
	const char *once = strstr(buf, "# TYPE pagemeld_cgroup_state ");
	assert_non_null(once);
	assert_null(strstr(once + 1, "# TYPE pagemeld_cgroup_state "));
	free(buf);
	ctl_manager_done(&m);
	ctl_cgroup_done(&c[0]);
	ctl_cgroup_done(&c[1]);
}

static void test_progress(void **state)
{
	char buf[256];
	assert_string_equal(ctl_format_progress(buf, sizeof(buf), 1000, 1000, PAGE, 10),
			    "[..........]   0%  3.9 MiB still shared");
	assert_string_equal(ctl_format_progress(buf, sizeof(buf), 1000, 500, PAGE, 10),
			    "[#####.....]  50%  2.0 MiB still shared");
	assert_string_equal(ctl_format_progress(buf, sizeof(buf), 1000, 0, PAGE, 10),
			    "[##########] 100%  0 B still shared");
	/* pages rising past the start never underflow */
	assert_string_equal(ctl_format_progress(buf, sizeof(buf), 1000, 2000, PAGE, 4),
			    "[....]   0%  3.9 MiB still shared");
	/* nothing to unmerge is done */
	assert_string_equal(ctl_format_progress(buf, sizeof(buf), 0, 0, PAGE, 4),
			    "[####] 100%  0 B still shared");
}

static void test_exit_codes(void **state)
{
	assert_int_equal(ctl_exit_code("org.freedesktop.DBus.Error.ServiceUnknown", -EIO),
			 CTL_EXIT_UNAVAILABLE);
	assert_int_equal(ctl_exit_code("org.freedesktop.DBus.Error.NameHasNoOwner", -EIO),
			 CTL_EXIT_UNAVAILABLE);
	assert_int_equal(ctl_exit_code("org.freedesktop.DBus.Error.Spawn.ExecFailed", -EIO),
			 CTL_EXIT_UNAVAILABLE);
	assert_int_equal(ctl_exit_code(NULL, -ENOENT), CTL_EXIT_UNAVAILABLE);
	assert_int_equal(ctl_exit_code(NULL, -ECONNREFUSED), CTL_EXIT_UNAVAILABLE);
	assert_int_equal(ctl_exit_code("org.freedesktop.DBus.Error.AccessDenied", -EACCES),
			 CTL_EXIT_ACCESS_DENIED);
	assert_int_equal(ctl_exit_code("io.pagemeld1.Error.AccessDenied", -EACCES), CTL_EXIT_ACCESS_DENIED);
	assert_int_equal(ctl_exit_code(NULL, -EACCES), CTL_EXIT_ACCESS_DENIED);
	assert_int_equal(ctl_exit_code("org.freedesktop.DBus.Error.UnknownMethod", -EBADR),
			 CTL_EXIT_NOT_IMPLEMENTED);
	assert_int_equal(ctl_exit_code("io.pagemeld1.Error.InsufficientHeadroom", -EIO), CTL_EXIT_REFUSED);
	assert_int_equal(ctl_exit_code("io.pagemeld1.Error.Busy", -EBUSY), CTL_EXIT_REFUSED);
	assert_int_equal(ctl_exit_code("io.pagemeld1.Error.NoMemoryController", -EIO), CTL_EXIT_REFUSED);
	assert_int_equal(ctl_exit_code("io.pagemeld1.Error.NoSuchCgroup", -ENOENT), CTL_EXIT_NOT_FOUND);
	assert_int_equal(ctl_exit_code("org.freedesktop.DBus.Error.InvalidArgs", -EINVAL), CTL_EXIT_USAGE);
	assert_int_equal(ctl_exit_code("io.pagemeld1.Error.KernelRefused", -EIO), CTL_EXIT_DBUS);
	assert_int_equal(ctl_exit_code(NULL, -ETIMEDOUT), CTL_EXIT_DBUS);
	assert_int_equal(ctl_exit_code("System.Error.ECONNREFUSED", -ECONNREFUSED), CTL_EXIT_UNAVAILABLE);
	assert_int_equal(ctl_exit_code(CTL_ERROR_USAGE, -EIO), CTL_EXIT_USAGE);
	assert_int_equal(ctl_exit_code(CTL_ERROR_FAILED, -EIO), CTL_EXIT_FAILED);
	assert_string_equal(ctl_error_summary(NULL, -ENOENT), "cannot connect to the system bus");
	assert_string_equal(ctl_error_summary("org.freedesktop.DBus.Error.ServiceUnknown", -EIO),
			    "daemon not running (io.pagemeld1 not on the bus)");
	assert_non_null(
		strstr(ctl_error_summary("io.pagemeld1.Error.InsufficientHeadroom", -EIO), "--force"));
}

/* Names pagemeldd never sends are no error of its contract: they sort as
 * "any other D-Bus error", never into a documented kind. */
static void test_exit_codes_unsent_names(void **state)
{
	static const char *const unsent[] = {
		"io.pagemeld1.Error.PermissionDenied", "io.pagemeld1.Error.Refused",
		"io.pagemeld1.Error.NotFound",	       "io.pagemeld1.Error.UnknownCgroup",
		"io.pagemeld1.Error.InvalidArgument",  "io.pagemeld1.Error.NotImplemented",
	};
	for (size_t i = 0; i < ELEMENTSOF(unsent); i++) {
		print_message("%s\n", unsent[i]);
		assert_int_equal(ctl_exit_code(unsent[i], -EIO), CTL_EXIT_DBUS);
	}
}

static void test_field_table(void **state)
{
	const CtlField *f = ctl_field_find(ctl_cgroup_fields, "MergeBudget");
	assert_non_null(f);
	assert_int_equal(f->kind, CTL_FIELD_U64);
	assert_int_equal(f->offset, offsetof(CtlCgroup, merge_budget));
	f = ctl_field_find(ctl_manager_fields, "GeneralProfit");
	assert_int_equal(f->kind, CTL_FIELD_I64);
	assert_null(ctl_field_find(ctl_manager_fields, "NoSuchProperty"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_text), cmocka_unit_test(test_list_text),
		cmocka_unit_test(test_json),	    cmocka_unit_test(test_metrics),
		cmocka_unit_test(test_estimate),    cmocka_unit_test(test_progress),
		cmocka_unit_test(test_exit_codes),  cmocka_unit_test(test_exit_codes_unsent_names),
		cmocka_unit_test(test_field_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
