import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;
import software.amazon.dynamodb.services.local.server.LocalDynamoDBRequestHandler;
import software.amazon.dynamodb.services.local.server.LocalDynamoDBServerHandler;

/** DynamoDB Local bound to 127.0.0.1 only (its own CLI binds every interface). */
public class LoopbackDynamoDBLocal {
    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        String dbPath = args.length > 1 ? args[1] : null;
        boolean inMemory = dbPath == null;
        LocalDynamoDBServerHandler handler = new LocalDynamoDBServerHandler(
            new LocalDynamoDBRequestHandler(0, inMemory, dbPath, true, false), null);
        Server server = new Server();
        ServerConnector connector = new ServerConnector(server);
        connector.setHost("127.0.0.1");
        connector.setPort(port);
        server.addConnector(connector);
        server.setHandler(new DynamoDBProxyServer(port, handler).setUpHandler(handler));
        server.start();
        System.out.println("DynamoDB Local listening on 127.0.0.1:" + port + (inMemory ? " (in memory)" : " (data in " + dbPath + ")"));
        server.join();
    }
}
