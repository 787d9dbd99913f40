package composecheck

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func (s service) inProfile(p string) bool {
	for _, v := range s.Profiles {
		if fmt.Sprint(v) == p {
			return true
		}
	}
	return false
}

// imageTag splits repository:tag.
func imageTag(image string) (repo, tag string) {
	repo, tag, _ = strings.Cut(interpolate(image), ":")
	return repo, tag
}

// Profile cluster runs Temporal as production does, with Temporal's own images: the
// server (not the dev server, not the deprecated auto-setup) on a PostgreSQL of its own
// whose schema the admin-tools image of the same release sets up first, the namespace
// and zdm's search attributes created once the server answers, and two zdm workers on
// one task queue. Nothing outside the profile needs it.
func TestComposeClusterProfile(t *testing.T) {
	f := loadCompose(t)
	cluster := map[string]service{}
	for name, s := range f.Services {
		if s.inProfile("cluster") {
			cluster[name] = s
		}
		repo, _ := imageTag(s.Image)
		require.NotEqual(t, "temporalio/auto-setup", repo, "service %s: temporalio/auto-setup is deprecated; use temporalio/server with a schema job of temporalio/admin-tools", name)
	}
	require.NotEmpty(t, cluster, "no service is in profile cluster")

	// The server, and the version everything else of Temporal's must match.
	var server, version string
	for name, s := range cluster {
		if repo, tag := imageTag(s.Image); repo == "temporalio/server" {
			require.Empty(t, server, "two Temporal servers in profile cluster: %s and %s", server, name)
			server, version = name, tag
		}
		require.False(t, s.Build != nil && !s.buildsZdm(), "service %s builds the dev server image; profile cluster runs temporalio/server", name)
	}
	require.NotEmpty(t, server, "profile cluster has no temporalio/server service")
	require.Regexp(t, `^\d+\.\d+\.\d+$`, version, "pin temporalio/server to a release, not %q", version)
	for name, s := range cluster {
		if repo, tag := imageTag(s.Image); repo == "temporalio/admin-tools" {
			require.True(t, strings.HasPrefix(tag, version+"-"), "service %s runs admin-tools %s, whose schema is not that of server %s", name, tag, version)
		}
	}

	// Persistence: PostgreSQL of the profile's own, healthy before the server and the
	// schema job, and the schema done before the server starts.
	srv := cluster[server]
	env := srv.rawEnv()
	require.Equal(t, "postgres12", env["DB"], "the server's DB plugin")
	db, ok := cluster[env["POSTGRES_SEEDS"]]
	require.True(t, ok, "POSTGRES_SEEDS=%s names no service of profile cluster", env["POSTGRES_SEEDS"])
	dbRepo, _ := imageTag(db.Image)
	require.Equal(t, "postgres", dbRepo)
	require.NotNil(t, db.Healthcheck, "the server's database needs a healthcheck to be waited for")
	dbEnv := db.rawEnv()
	require.Equal(t, dbEnv["POSTGRES_USER"], env["POSTGRES_USER"])
	require.Equal(t, dbEnv["POSTGRES_PASSWORD"], env["POSTGRES_PWD"], "the server's password is the one its database is created with")
	deps := srv.dependsOn()
	require.Equal(t, "service_healthy", deps[env["POSTGRES_SEEDS"]])
	var schemaJob string
	for dep, cond := range deps {
		script := strings.Join(cluster[dep].command(), " ")
		if strings.Contains(script, "temporal-sql-tool") {
			require.Equal(t, "service_completed_successfully", cond, "the server waits for the schema job %s to finish", dep)
			schemaJob = dep
		}
	}
	require.NotEmpty(t, schemaJob, "the server depends on no job running temporal-sql-tool")
	job := cluster[schemaJob]
	script := strings.Join(job.command(), " ")
	for _, want := range []string{
		"--db temporal setup-schema", "--db temporal update-schema --schema-name postgresql/v12/temporal",
		"--db temporal_visibility create-database", "--db temporal_visibility setup-schema",
		"--db temporal_visibility update-schema --schema-name postgresql/v12/visibility",
	} {
		require.Contains(t, script, want, "the schema job %s", schemaJob)
	}
	jobEnv := job.rawEnv()
	require.Equal(t, "postgres12", jobEnv["SQL_PLUGIN"])
	require.Equal(t, env["POSTGRES_SEEDS"], jobEnv["SQL_HOST"])
	require.Equal(t, env["POSTGRES_PWD"], jobEnv["SQL_PASSWORD"])
	require.Equal(t, "service_healthy", job.dependsOn()[env["POSTGRES_SEEDS"]])

	// Workers: two or more zdm-worker services on the server, one task queue, each
	// waiting for the namespace and search attributes.
	var workers []string
	queues := map[string]bool{}
	for name, pkg := range zdmServices(t, f) {
		s := f.Services[name]
		if !s.inProfile("cluster") || pkg != "./worker" {
			continue
		}
		workers = append(workers, name)
		wenv := s.rawEnv()
		host, _, _ := strings.Cut(wenv["TEMPORAL_ADDRESS"], ":")
		require.Equal(t, server, host, "%s: TEMPORAL_ADDRESS names %s, not the cluster's server", name, host)
		queues[wenv["ZDM_TASK_QUEUE"]] = true
		var namespaceJob bool
		for dep, cond := range s.dependsOn() {
			script := strings.Join(cluster[dep].command(), " ")
			if strings.Contains(script, "namespace create") && strings.Contains(script, "MigrationPhase") && strings.Contains(script, "MigrationTable") {
				require.Equal(t, "service_completed_successfully", cond)
				require.Equal(t, wenv["TEMPORAL_NAMESPACE"], namespaceOf(script), "%s's namespace is the one the job creates", name)
				namespaceJob = true
			}
		}
		require.True(t, namespaceJob, "%s waits for no job creating the namespace and zdm's search attributes", name)
	}
	sort.Strings(workers)
	require.GreaterOrEqual(t, len(workers), 2, "profile cluster runs %v: two zdm workers share the work", workers)
	require.Len(t, queues, 1, "the cluster's workers poll one task queue")

	// Nothing outside the profile waits for a service in it, or the default stack would
	// not start without --profile cluster.
	for name, s := range f.Services {
		if s.inProfile("cluster") {
			continue
		}
		for dep := range s.dependsOn() {
			_, inCluster := cluster[dep]
			require.False(t, inCluster, "%s (no profile cluster) depends on %s (profile cluster)", name, dep)
		}
	}
}

func namespaceOf(script string) string {
	i := strings.Index(script, "namespace create --namespace ")
	if i < 0 {
		return ""
	}
	return strings.Fields(script[i+len("namespace create --namespace "):])[0]
}

// No two services publish the same host port: every profile can run beside the others.
func TestComposePublishedPortsDiffer(t *testing.T) {
	f := loadCompose(t)
	owner := map[string]string{}
	names := make([]string, 0, len(f.Services))
	for name := range f.Services {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		for _, p := range f.Services[name].Ports {
			v := interpolate(fmt.Sprint(p))
			parts := strings.Split(v, ":")
			require.Len(t, parts, 3, "%s: publish as 127.0.0.1:HOST:CONTAINER, not %q", name, v)
			host := parts[0] + ":" + parts[1]
			require.Empty(t, owner[host], "%s and %s both publish %s", owner[host], name, host)
			owner[host] = name
		}
	}
}
